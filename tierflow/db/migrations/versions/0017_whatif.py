"""what-if: the acting person's scope on each audit row, and saved what-if runs

The audit trail keeps who acted with the scope their permissions were judged by (a
supervisor's tier and division, a system client's grants), so a what-if can replay the action
as it was taken. ``whatif_run`` keeps every what-if run: who ran it, the candidate policy, the
period and scope, and its report.

Revision ID: 0017_whatif
Revises: 0016_directory_version
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_whatif"
down_revision: str | None = "0016_directory_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transition") as batch:
        batch.add_column(sa.Column("actor_tier", sa.String(32), nullable=True))
        batch.add_column(sa.Column("actor_division_code", sa.String(6), nullable=True))
        batch.add_column(sa.Column("actor_grants", sa.JSON(), nullable=True))
    op.create_table(
        "whatif_run",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_by", sa.String(length=100), nullable=False),
        sa.Column("candidate_version", sa.String(length=64), nullable=False),
        sa.Column("candidate_content", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("whatif_run") as batch:
        batch.create_index("ix_whatif_run_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("whatif_run") as batch:
        batch.drop_index("ix_whatif_run_created_at")
    op.drop_table("whatif_run")
    with op.batch_alter_table("transition") as batch:
        batch.drop_column("actor_grants")
        batch.drop_column("actor_division_code")
        batch.drop_column("actor_tier")
