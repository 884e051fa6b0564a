"""service_request.awaiting: whose turn it is besides the unit (待回访, 退单待决定 ...)

The summary's ``awaiting`` codes, each between spaces, for the desks' and supervisors'
worklists (a queue filters with ``LIKE '% code %'``). Rows written before stay empty until
their request's next transition.

Revision ID: 0021_awaiting
Revises: 0020_submission_text_lengths
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_awaiting"
down_revision: str | None = "0020_submission_text_lengths"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(sa.Column("awaiting", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("awaiting")
