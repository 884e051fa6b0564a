"""contact_erasure: requests whose contact person was erased, when, by whom and why

``tierflow privacy erase`` sets an ended request's ``contact_name``, ``contact_phone`` and
``contact_email`` to NULL, once its retention ran out or at the enterprise's request (个人信息
删除请求), and records it here for an auditor. Nothing was erased before: the table starts
empty.

Revision ID: 0027_contact_erasure
Revises: 0026_intake_rating_unit
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_contact_erasure"
down_revision: str | None = "0026_intake_rating_unit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_erasure",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(length=100), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )


def downgrade() -> None:
    """Drop the record of erasures (the erased contacts do not come back)."""
    op.drop_table("contact_erasure")
