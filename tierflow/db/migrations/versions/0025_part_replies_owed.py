"""request_part.replies_owed: supervisions (督办) of a late part waiting for its unit's reply

A late co-handling part is supervised as its co-handler's, which writes the reply; the unit
keeps the request in scope until it has, after its part is closed too. Parts recorded before
count the part's supervisions in the audit trail that no reply or reprimand answered.

Revision ID: 0025_part_replies_owed
Revises: 0024_hold_responded_at
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_part_replies_owed"
down_revision: str | None = "0024_hold_responded_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART_CLOCK = "part:"
_transition = sa.table(
    "transition",
    sa.column("request_id", sa.String),
    sa.column("event_type", sa.String),
    sa.column("sequence", sa.Integer),
    sa.column("details", sa.JSON),
)
_part = sa.table(
    "request_part",
    sa.column("request_id", sa.String),
    sa.column("institution_id", sa.String),
    sa.column("replies_owed", sa.Integer),
)


def upgrade() -> None:
    with op.batch_alter_table("request_part") as batch:
        batch.add_column(
            sa.Column("replies_owed", sa.Integer(), nullable=False, server_default="0")
        )
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> None:
    """Count each part's supervisions that no reply or reprimand answered, in the trail (one
    statement: the database counts, whatever the size of the trail)."""
    clock = _transition.c.details["clock"].as_string()
    its_clock = sa.literal(PART_CLOCK) + _part.c.institution_id

    def counted(*kinds: str) -> sa.ScalarSelect[int]:
        return (
            sa.select(sa.func.count())
            .where(
                _transition.c.request_id == _part.c.request_id,
                _transition.c.event_type.in_(kinds),
                clock == its_clock,
            )
            .scalar_subquery()
        )

    owed = counted("supervision_opened") - counted("supervision_replied", "reprimanded")
    conn.execute(
        sa.update(_part)
        .where(counted("supervision_opened") > 0)
        .values(replies_owed=sa.case((owed > 0, owed), else_=0))
    )


def downgrade() -> None:
    with op.batch_alter_table("request_part") as batch:
        batch.drop_column("replies_owed")
