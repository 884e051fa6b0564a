"""申诉: rating.excluded, set when an appeal against the rating is upheld

Revision ID: 0012_rating_excluded
Revises: 0011_request_part
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_rating_excluded"
down_revision: str | None = "0011_request_part"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rating") as batch:
        batch.add_column(
            sa.Column("excluded", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("rating") as batch:
        batch.drop_column("excluded")
