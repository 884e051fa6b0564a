"""承办人: service_request.handler_id, the caseworker of the holding unit who handles it

Indexed with the institution, for "mine" queues and a unit's workload per caseworker.

Revision ID: 0010_handler
Revises: 0009_request_search
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_handler"
down_revision: str | None = "0009_request_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(sa.Column("handler_id", sa.String(length=100), nullable=True))
    op.create_index(
        "ix_service_request_handler", "service_request", ["institution_id", "handler_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_service_request_handler", table_name="service_request")
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("handler_id")
