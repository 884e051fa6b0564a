"""service_request.rating: the enterprise's rating of the conclusion, on the request's row

The follow-up desk's 待回访 list could not tell a bad rating's callback (every 差评 is called
back) from a routine one: the rating was in the rating table only. Rows of requests rated
before take their latest conclusion rating from there.

Revision ID: 0032_request_rating
Revises: 0031_open_rows_indexes
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tierflow.db import online_ddl

revision: str = "0032_request_rating"
down_revision: str | None = "0031_open_rows_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the fill after the column committed: readers are not held (``tierflow.db.online_ddl``)
    online_ddl.add_columns("service_request", sa.Column("rating", sa.Integer(), nullable=True))
    online_ddl.fill(
        "UPDATE service_request SET rating = (SELECT r.rating FROM rating r "
        "WHERE r.request_id = service_request.request_id AND r.stage = 'conclusion' "
        "ORDER BY r.created_at DESC, r.id DESC LIMIT 1)"
    )


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("rating")
