"""tier_hold.signed_for_at: a sign-for with no deadline to meet is not measured

签收按时率 is measured over the stays whose sign-for was due. A request pinned under a policy
without a sign-for deadline (before the rule) is still signed for, its business seconds
recorded as null; the projection counted each such stay as signed for in time. It no longer
records them on the stay; this clears the ones recorded before, from the audit trail.

Revision ID: 0038_untimed_sign_fors
Revises: 0037_awaiting_index
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tierflow.db.types import UtcDateTime

revision: str = "0038_untimed_sign_fors"
down_revision: str | None = "0037_awaiting_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_transition = sa.table(
    "transition",
    sa.column("request_id", sa.String),
    sa.column("event_type", sa.String),
    sa.column("occurred_at", UtcDateTime),
    sa.column("details", sa.JSON),
)
_hold = sa.table(
    "tier_hold",
    sa.column("request_id", sa.String),
    sa.column("signed_for_at", UtcDateTime),
)


def upgrade() -> None:
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> int:
    """Clear the stays' sign-fors whose record says no deadline applied (its business
    seconds null: every sign-for record has the field, since the rule came with it); return
    how many were cleared."""
    untimed = sa.select(_transition.c.request_id).where(
        _transition.c.request_id == _hold.c.request_id,
        _transition.c.event_type == "signed_for",
        _transition.c.occurred_at == _hold.c.signed_for_at,
        _transition.c.details["sign_for_business_seconds"].as_string().is_(None),
    )
    return conn.execute(
        sa.update(_hold)
        .where(_hold.c.signed_for_at.is_not(None), sa.exists(untimed))
        .values(signed_for_at=None)
    ).rowcount


def downgrade() -> None:
    """Nothing to undo: which stays are measured is data, not schema."""
