"""rating: an intake rating (受理评价) belongs to the unit that did the 受理

An intake rating was stored with the unit holding the request when the enterprise rated it,
which after an escalation is not the unit that answered it. Ratings stored before take the
request's first stay that answered, where there is one.

Revision ID: 0026_intake_rating_unit
Revises: 0025_part_replies_owed
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_intake_rating_unit"
down_revision: str | None = "0025_part_replies_owed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_rating = sa.table(
    "rating",
    sa.column("request_id", sa.String),
    sa.column("institution_id", sa.String),
    sa.column("tier", sa.String),
    sa.column("stage", sa.String),
)
_hold = sa.table(
    "tier_hold",
    sa.column("id", sa.Integer),
    sa.column("request_id", sa.String),
    sa.column("institution_id", sa.String),
    sa.column("tier", sa.String),
    sa.column("since", sa.DateTime),
    sa.column("responded_at", sa.DateTime),
)


def _first_answer(column: sa.ColumnClause) -> sa.ScalarSelect:
    return (
        sa.select(column)
        .where(_hold.c.request_id == _rating.c.request_id, _hold.c.responded_at.is_not(None))
        .order_by(_hold.c.since, _hold.c.id)
        .limit(1)
        .scalar_subquery()
    )


def upgrade() -> None:
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> int:
    """Charge each intake rating to its request's first stay that answered, if any, where it
    is charged to another; return how many ratings were charged anew."""
    answered = sa.select(_hold.c.id).where(
        _hold.c.request_id == _rating.c.request_id, _hold.c.responded_at.is_not(None)
    )
    elsewhere = sa.or_(
        _rating.c.institution_id.is_distinct_from(_first_answer(_hold.c.institution_id)),
        _rating.c.tier.is_distinct_from(_first_answer(_hold.c.tier)),
    )
    return conn.execute(
        sa.update(_rating)
        .where(_rating.c.stage == "intake", sa.exists(answered), elsewhere)
        .values(
            institution_id=_first_answer(_hold.c.institution_id),
            tier=_first_answer(_hold.c.tier),
        )
    ).rowcount


def downgrade() -> None:
    """Nothing to undo: the unit a rating belongs to is data, not schema."""
