"""协办: request_part, a co-handling unit's part of a request (its unit sees the request)

Revision ID: 0011_request_part
Revises: 0010_handler
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_request_part"
down_revision: str | None = "0010_handler"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("opened_by"),
    )
    op.create_index("ix_request_part_institution", "request_part", ["institution_id", "request_id"])


def downgrade() -> None:
    op.drop_index("ix_request_part_institution", table_name="request_part")
    op.drop_table("request_part")
