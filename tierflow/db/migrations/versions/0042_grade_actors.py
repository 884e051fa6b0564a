"""enterprise_grade: who imported a recognition, and who recorded its withdrawal

A grade decides a request's SLA tier of service (the policy's grade targets), and a
withdrawal takes that away: who made each change belongs with it, as for the directory and
the SLA policies. Rows of before have none (the security log does not hold grade changes).

Revision ID: 0042_grade_actors
Revises: 0041_updated_index
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042_grade_actors"
down_revision: str | None = "0041_updated_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enterprise_grade") as batch:
        batch.add_column(sa.Column("imported_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enterprise_grade") as batch:
        batch.drop_column("withdrawn_by")
        batch.drop_column("imported_by")
