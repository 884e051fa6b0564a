"""service_request: an index of the rows that wait for someone (the worklists)

A worklist of what may wait after the close (申诉待决定, 督办待回复, 待回访 for a bad rating's
call back) now holds closed requests too, which the open rows' indexes leave out; the rows
that wait for someone are few, and this partial index finds them.

Revision ID: 0037_awaiting_index
Revises: 0036_late_intake_charge
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

from tierflow.db import online_ddl

revision: str = "0037_awaiting_index"
down_revision: str | None = "0036_late_intake_charge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "awaiting IS NOT NULL"


def upgrade() -> None:
    # CONCURRENTLY on PostgreSQL: the requests keep taking writes (``online_ddl``)
    online_ddl.create_index("ix_service_request_awaiting", "service_request", ["awaiting"], WAITING)


def downgrade() -> None:
    op.drop_index("ix_service_request_awaiting", table_name="service_request")
