"""security_event: who administered users and tokens, and who signed in (等保 2.0 安全审计)

Users created, tokens issued and revoked, console sign-ins (and failed ones), sign-outs,
sessions found expired and addresses locked out after unknown tokens, each with its time,
actor, the user acted on, the client's address and a small outcome; never a token, a session
id or a digest of one (``tierflow.security_log``). Nothing was recorded before: the table
starts empty. tierflow only ever inserts into it.

Revision ID: 0029_security_event
Revises: 0028_request_attachments
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_security_event"
down_revision: str | None = "0028_request_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("address", sa.String(length=100), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("security_event") as batch:
        batch.create_index("ix_security_event_occurred_at", ["occurred_at"], unique=False)


def downgrade() -> None:
    """Drop the security audit records: back them up first, they are kept nowhere else."""
    with op.batch_alter_table("security_event") as batch:
        batch.drop_index("ix_security_event_occurred_at")
    op.drop_table("security_event")
