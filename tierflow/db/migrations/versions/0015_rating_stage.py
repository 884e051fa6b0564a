"""受理评价: rating.stage, what a rating judges ("conclusion", as every earlier one, or "intake")

Revision ID: 0015_rating_stage
Revises: 0014_search_bigrams
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_rating_stage"
down_revision: str | None = "0014_search_bigrams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rating") as batch:
        batch.add_column(
            sa.Column("stage", sa.String(32), nullable=False, server_default="conclusion")
        )


def downgrade() -> None:
    with op.batch_alter_table("rating") as batch:
        batch.drop_column("stage")
