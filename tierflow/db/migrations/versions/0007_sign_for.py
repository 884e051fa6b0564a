"""签收 (sign-for): when the holding unit signed for a request, and its deadline

service_request.sign_for_due_at and signed_for_at; tier_hold.signed_for_at and
sign_for_breached. Rows written before stay null/false: their requests ran no sign-for clock.

Revision ID: 0007_sign_for
Revises: 0006_notifications
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_sign_for"
down_revision: str | None = "0006_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(sa.Column("sign_for_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("signed_for_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("tier_hold") as batch:
        batch.add_column(sa.Column("signed_for_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("sign_for_breached", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("tier_hold") as batch:
        batch.drop_column("sign_for_breached")
        batch.drop_column("signed_for_at")
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("signed_for_at")
        batch.drop_column("sign_for_due_at")
