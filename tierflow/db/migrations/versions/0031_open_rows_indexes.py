"""Indexes for a year of requests: open rows, dates, operator holds, the inbox

With a province's year in the read model (300,000 requests, 35,000 open), every queue load
read the whole of ``service_request``: the open requests of a unit or a region, the requests
by date, the ones waiting for an operator (a gauge scraped every 15 s) and a user's inbox,
newest first, had no index to come from.

Revision ID: 0031_open_rows_indexes
Revises: 0030_first_receiver
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

from tierflow.db import online_ddl

revision: str = "0031_open_rows_indexes"
down_revision: str | None = "0030_first_receiver"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ROWS = "state NOT IN ('closed', 'rejected', 'withdrawn')"  # tierflow.db.models.OPEN_ROWS


def _partial(name: str, columns: list[str], where: str) -> None:
    online_ddl.create_index(name, "service_request", columns, where)


def upgrade() -> None:
    # built CONCURRENTLY on PostgreSQL: the tables keep taking writes (``online_ddl``)
    _partial("ix_service_request_open_unit", ["institution_id"], OPEN_ROWS)
    _partial("ix_service_request_open_region", ["division_code", "tier"], OPEN_ROWS)
    _partial("ix_service_request_needs_operator", ["needs_operator"], "needs_operator")
    online_ddl.create_index(
        "ix_service_request_submitted", "service_request", ["submitted_at", "request_id"]
    )
    online_ddl.create_index(
        "ix_notification_inbox_recent", "notification", ["user_id", "channel", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_notification_inbox_recent", table_name="notification")
    for name in (
        "ix_service_request_submitted",
        "ix_service_request_needs_operator",
        "ix_service_request_open_region",
        "ix_service_request_open_unit",
    ):
        op.drop_index(name, table_name="service_request")
