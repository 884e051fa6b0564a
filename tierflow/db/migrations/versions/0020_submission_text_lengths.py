"""service_request: the submission's text columns as long as the edges' byte limits

The API and the Kafka ingress bound these texts in UTF-8 bytes (600 for a subject), and the
columns kept the character lengths of 0.1.0 (200). PostgreSQL counts characters, so a subject
of 201-600 ASCII characters was accepted and then refused by the read model for good.

Revision ID: 0020_submission_text_lengths
Revises: 0019_whatif_calendar
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_submission_text_lengths"
down_revision: str | None = "0019_whatif_calendar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# column: (length before, length now)
LENGTHS = {
    "enterprise_name": (200, 600),
    "contact_name": (100, 300),
    "contact_phone": (40, 120),
    "contact_email": (200, 600),
    "subject": (200, 600),
    "channel": (40, 120),
}


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        for name, (before, now) in LENGTHS.items():
            batch.alter_column(name, existing_type=sa.String(before), type_=sa.String(now))


def downgrade() -> None:
    """Narrow the columns again; fails on PostgreSQL while a longer text is stored."""
    with op.batch_alter_table("service_request") as batch:
        for name, (before, now) in LENGTHS.items():
            batch.alter_column(name, existing_type=sa.String(now), type_=sa.String(before))
