"""transition.actor_via: the system client that acted on a person's behalf

Revision ID: 0003_actor_via
Revises: 0002_api_auth
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_actor_via"
down_revision: str | None = "0002_api_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("transition", sa.Column("actor_via", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("transition", "actor_via")
