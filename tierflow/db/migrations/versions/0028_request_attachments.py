"""service_request.attachments: the documents the enterprise attached to its submission

The submission's attachments (name, media type, size, link) reached the workflow and the
lifecycle events but not the read model, so no caseworker saw them. Requests projected from
now on keep them; a request submitted before has none here (its submission is in Temporal's
history only).

Revision ID: 0028_request_attachments
Revises: 0027_contact_erasure
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_request_attachments"
down_revision: str | None = "0027_contact_erasure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(sa.Column("attachments", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("attachments")
