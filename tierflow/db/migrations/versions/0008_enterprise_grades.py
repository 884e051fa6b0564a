"""The enterprise grade registry (企业梯度培育名单): recognitions keyed by USCC

enterprise_grade: grade, level, recognising body, day granted, last valid day, withdrawal.
load_policy reads it at submission; an empty registry confirms no grade.

Revision ID: 0008_enterprise_grades
Revises: 0007_sign_for
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_enterprise_grades"
down_revision: str | None = "0007_sign_for"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enterprise_grade",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=True),
        sa.Column("grade", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("recognised_by", sa.String(length=200), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uscc", "grade", "level", "granted_on", name="uq_enterprise_grade"),
    )
    op.create_index("ix_enterprise_grade_uscc", "enterprise_grade", ["uscc"])


def downgrade() -> None:
    op.drop_index("ix_enterprise_grade_uscc", table_name="enterprise_grade")
    op.drop_table("enterprise_grade")
