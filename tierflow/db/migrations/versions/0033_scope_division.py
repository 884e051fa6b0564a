"""service_request.scope_division: the division a request is overseen from, when not the
enterprise's

A province that sent a request to another city's county (after a 退单 for 非本辖区) left it
in the queues of the enterprise's city, whose supervisors could supervise a unit they do not
oversee, and out of those of the city above the unit. Requests pinned from this release
record the holding unit's division when the enterprise lies outside it; rows of requests
pinned before keep none (their workflows keep the enterprise's region), so nothing is
backfilled.

Revision ID: 0033_scope_division
Revises: 0032_request_rating
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tierflow.db import online_ddl

revision: str = "0033_scope_division"
down_revision: str | None = "0032_request_rating"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SET = "scope_division IS NOT NULL"


def upgrade() -> None:
    online_ddl.add_columns(
        "service_request", sa.Column("scope_division", sa.String(6), nullable=True)
    )
    online_ddl.create_index(  # CONCURRENTLY on PostgreSQL: writes go on (``online_ddl``)
        "ix_service_request_scope_division", "service_request", ["scope_division", "tier"], SET
    )


def downgrade() -> None:
    op.drop_index("ix_service_request_scope_division", table_name="service_request")
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("scope_division")
