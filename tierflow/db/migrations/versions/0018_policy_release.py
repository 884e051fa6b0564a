"""sla_policy_release: policies promoted to be in force for new requests from a date

A candidate policy is added to ``sla_policy_version`` (now with who added it) and promoted by
a row of ``sla_policy_release``: the version, the instant from which new requests pin it, who
promoted it and when, and the what-if run that justified it.

Revision ID: 0018_policy_release
Revises: 0017_whatif
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_policy_release"
down_revision: str | None = "0017_whatif"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sla_policy_version") as batch:
        batch.add_column(sa.Column("added_by", sa.String(length=100), nullable=True))
    op.create_table(
        "sla_policy_release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("in_force_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_by", sa.String(length=100), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("whatif_run_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sla_policy_release") as batch:
        batch.create_index("ix_sla_policy_release_in_force_from", ["in_force_from"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sla_policy_release") as batch:
        batch.drop_index("ix_sla_policy_release_in_force_from")
    op.drop_table("sla_policy_release")
    with op.batch_alter_table("sla_policy_version") as batch:
        batch.drop_column("added_by")
