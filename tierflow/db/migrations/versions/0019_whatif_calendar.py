"""whatif_run.candidate_calendar: the candidate calendar a run tried, if any

A run may replace the candidate policy's calendar by another (``--calendar``); a release it
justifies must then carry that calendar, so the run keeps it beside the policy file.

Revision ID: 0019_whatif_calendar
Revises: 0018_policy_release
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_whatif_calendar"
down_revision: str | None = "0018_policy_release"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("whatif_run") as batch:
        batch.add_column(sa.Column("candidate_calendar", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("whatif_run") as batch:
        batch.drop_column("candidate_calendar")
