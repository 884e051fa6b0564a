"""service_request: an index by the last step's instant (``updated_at``, ``request_id``)

A portal or another system polls for what changed since it last looked
(``GET /api/v1/requests?updated_since=...&sort=updated``); without the index each poll
read every row.

Revision ID: 0041_updated_index
Revises: 0040_rectifying_unit
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from tierflow.db import online_ddl

revision: str = "0041_updated_index"
down_revision: str | None = "0040_rectifying_unit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # CONCURRENTLY on PostgreSQL: the requests keep taking writes (``online_ddl``)
    online_ddl.create_index(
        "ix_service_request_updated", "service_request", ["updated_at", "request_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_service_request_updated", table_name="service_request")
