"""service_request.submission_digest: what was submitted, to tell a reused id from a copy

Temporal forgets a workflow after the namespace's retention, and with it the digest of its
submission (its memo). A submit under the id of such a request was answered as a duplicate,
whatever it held: a new request that reused the id was dropped without a word on Kafka. The
read model now keeps the digest, so a submit with other content is a conflict. Rows
projected before keep none (their submissions are not kept to digest), and are answered as
before.

Revision ID: 0035_submission_digest
Revises: 0034_parts_end_with_request
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035_submission_digest"
down_revision: str | None = "0034_parts_end_with_request"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.add_column(sa.Column("submission_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("submission_digest")
