"""service_request.rectifying_unit: the rated unit while it owes a step of its 整改

A bad rating's 整改 is the rated unit's wherever the request goes after it (a redo pulled up
to the city, say), but the unit's caseworkers saw only the requests their unit held or
co-handled: once the request moved, they could neither conclude the 整改, appeal the rating
nor reply to the 督办 of the late 整改. The row now names the unit while it owes one of those
steps, and its caseworkers' scope holds it. The rows of requests rated before are filled from
the audit trail (``backfill``); ``tierflow db refresh-worklists`` then moves a reply the
rated unit owes from the holding unit's 督办待回复 worklist to its own.

Revision ID: 0040_rectifying_unit
Revises: 0039_business_calendar
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from tierflow.db import online_ddl

revision: str = "0040_rectifying_unit"
down_revision: str | None = "0039_business_calendar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SET = "rectifying_unit IS NOT NULL"

_transition = sa.table(
    "transition",
    sa.column("request_id", sa.String),
    sa.column("sequence", sa.Integer),
    sa.column("event_type", sa.String),
    sa.column("details", sa.JSON),
)
_request = sa.table(
    "service_request",
    sa.column("request_id", sa.String),
    sa.column("rectifying_unit", sa.String),
)
# what opens, ends or keeps open a rectification's steps, as its audit rows tell
_STEPS = (
    "rectification_opened",
    "rectification_concluded",
    "rating_appealed",
    "appeal_upheld",
    "appeal_rejected",
    "supervision_opened",
    "supervision_replied",
    "reprimanded",
)


def upgrade() -> None:
    online_ddl.add_columns(
        "service_request", sa.Column("rectifying_unit", sa.String(64), nullable=True)
    )
    online_ddl.create_index(  # CONCURRENTLY on PostgreSQL: writes go on (``online_ddl``)
        "ix_service_request_rectifying_unit", "service_request", ["rectifying_unit"], SET
    )
    backfill(op.get_bind())


def owing(steps: Sequence[tuple[str, dict | None]], now: datetime) -> str | None:
    """The unit owing, or free to take, a step of the request's latest 整改, from its audit
    rows in order, at ``now`` (``workflows.rectification.owing_unit``): its rated unit while
    the 整改 is open, its appeal window open and unused, its appeal undecided or a 督办 of
    the 整改 unanswered; None after."""
    unit, open_, appealed, appeal_until, replies = None, False, False, None, 0
    for event_type, found in steps:
        details = found or {}
        rectifying = details.get("clock") == "rectification"
        if event_type == "rectification_opened":
            unit = details.get("rectifying_institution")
            open_, appealed, replies = True, False, 0
            until = details.get("appeal_until")
            appeal_until = datetime.fromisoformat(until) if isinstance(until, str) else None
        elif event_type == "rectification_concluded":
            open_ = False
        elif event_type == "rating_appealed":
            appealed, appeal_until = True, None
        elif event_type in ("appeal_upheld", "appeal_rejected"):
            appealed = False
            open_ = open_ and event_type == "appeal_rejected"
        elif event_type == "supervision_opened" and rectifying:
            replies += details.get("supervised_institution") == unit
        elif event_type == "reprimanded" and rectifying:
            replies -= details.get("supervised_institution") == unit
        elif event_type == "supervision_replied" and rectifying and not details.get("late"):
            replies -= 1
    appealable = appeal_until is not None and now <= appeal_until
    return unit if unit and (open_ or appealed or appealable or replies > 0) else None


def backfill(conn: sa.Connection) -> int:
    """Name the owing unit on the rows of requests whose 整改 or appeal is open and that name
    none (idempotent; a row a worker of this release wrote is left as it is); return how many
    rows were named. Reads only the rectifications' audit rows (a bad rating's few)."""
    rows = conn.execute(
        sa.select(_transition.c.request_id, _transition.c.event_type, _transition.c.details)
        .where(_transition.c.event_type.in_(_STEPS))
        .order_by(_transition.c.request_id, _transition.c.sequence)
    )
    steps: dict[str, list[tuple[str, dict | None]]] = {}
    for request_id, event_type, details in rows:
        steps.setdefault(request_id, []).append((event_type, details))
    named, now = 0, datetime.now(UTC)
    for request_id, found in sorted(steps.items()):
        unit = owing(found, now)
        if unit is None:
            continue
        named += conn.execute(
            sa.update(_request)
            .where(_request.c.request_id == request_id, _request.c.rectifying_unit.is_(None))
            .values(rectifying_unit=unit)
        ).rowcount
    return named


def downgrade() -> None:
    op.drop_index("ix_service_request_rectifying_unit", table_name="service_request")
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("rectifying_unit")
