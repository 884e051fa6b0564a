"""service_request.paused_until: when a paused request's pause ends at the latest

A suspended request (挂起) resumes by then, and one waiting for the enterprise's materials
(待企业补充) stops waiting then: the queues show it. Rows written before stay empty until their
request's next transition, or until ``tierflow db refresh-worklists``.

Revision ID: 0023_paused_until
Revises: 0022_follow_up_due
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_paused_until"
down_revision: str | None = "0022_follow_up_due"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("paused_until")
