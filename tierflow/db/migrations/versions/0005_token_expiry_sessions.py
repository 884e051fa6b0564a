"""api_token.expires_at and last_used_at; console_session (server-side console sessions)

Tokens issued before this migration expire 90 days after it runs.

Revision ID: 0005_token_expiry_sessions
Revises: 0004_needs_operator
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0005_token_expiry_sessions"
down_revision: str | None = "0004_needs_operator"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXISTING_TOKENS_LIFETIME = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    expires = datetime.now(UTC) + EXISTING_TOKENS_LIFETIME
    if bind.dialect.name == "sqlite":  # stored as naive UTC, as tierflow.db.types does
        expires = expires.replace(tzinfo=None)
    stmt = sa.text("UPDATE api_token SET expires_at = :expires").bindparams(
        sa.bindparam("expires", type_=sa.DateTime(timezone=True))
    )
    bind.execute(stmt, {"expires": expires})
    with op.batch_alter_table("api_token") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_table(
        "console_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("console_session") as batch:
        batch.create_index(batch.f("ix_console_session_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_session") as batch:
        batch.drop_index(batch.f("ix_console_session_user_id"))
    op.drop_table("console_session")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
