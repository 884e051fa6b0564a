"""directory_version: every institution directory version imported, kept whole

Revision ID: 0016_directory_version
Revises: 0015_rating_stage
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_directory_version"
down_revision: str | None = "0015_rating_stage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_version",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("institutions", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("directory_version") as batch:
        batch.create_index("ix_directory_version_imported_at", ["imported_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("directory_version") as batch:
        batch.drop_index("ix_directory_version_imported_at")
    op.drop_table("directory_version")
