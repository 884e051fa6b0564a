"""service_request.follow_up_due_at: when a concluded request's follow-up (回访) falls due

The follow-up desk's queue orders its 待回访 worklist by it and shows it. Rows written before
stay empty until their request's next transition, or until ``tierflow db refresh-worklists``.

Revision ID: 0022_follow_up_due
Revises: 0021_awaiting
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_follow_up_due"
down_revision: str | None = "0021_awaiting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(sa.Column("follow_up_due_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("follow_up_due_at")
