"""service_request.needs_operator: a step failed permanently and waits for an operator

Revision ID: 0004_needs_operator
Revises: 0003_actor_via
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_needs_operator"
down_revision: str | None = "0003_actor_via"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(
            sa.Column("needs_operator", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("needs_operator")
