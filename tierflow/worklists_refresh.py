"""Bring the read model's worklists up to date from the requests themselves
(``tierflow db refresh-worklists``).

The read model learns what a request waits for (``awaiting``: 待回访, 退单待决定 ...), when
its follow-up falls due (``follow_up_due_at``) and when its pause ends (``paused_until``) with
its next transition. Rows written before migrations 0021, 0022 and 0023 have none until then,
and a concluded request waiting for its follow-up, or a suspended one, may see no transition
for days: it would be missing from the follow-up desk's worklist, or listed without its due
time; and a reply a rated unit owes for its 整改 on a request held elsewhere stays in the
holding unit's 督办待回复 worklist (rows written before migration 0040). This
asks each open request's workflow, and each closed one's with a bad rating (its 整改 may keep
it running), for its ``view`` and writes the columns; a row a newer transition already wrote
is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, and_, or_, update
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from schemas.domain import TERMINAL_STATES, State
from schemas.lifecycle import BAD_RATING, RequestView
from tierflow.constants import workflow_id
from tierflow.db.engine import begin_write
from tierflow.db.models import ServiceRequest, awaiting_text

QUERY_TIMEOUT = timedelta(seconds=10)
_table = ServiceRequest.__table__  # type: ignore[attr-defined]


# A request's own state that keeps it from answering now (its workflow tasks failing, no
# worker polling its task queue, a slow worker): it is skipped and named, the rest go on.
# Anything else (Temporal unreachable) stops the refresh.
# (The SDK ends a call whose own timeout expired as CANCELLED, "Timeout expired".)
UNANSWERED = frozenset(
    {RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
)


@dataclass
class RefreshReport:
    """How many open requests were asked, whose rows changed, which requests have no
    workflow any more (finished and forgotten by Temporal while the row says open) and which
    did not answer (with Temporal's reason)."""

    checked: int = 0
    updated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unanswered: list[tuple[str, str]] = field(default_factory=list)


async def refresh_worklists(
    client: Client, engine: Engine, wait: timedelta = QUERY_TIMEOUT
) -> RefreshReport:
    """Write each open request's ``awaiting``, ``follow_up_due_at``, ``paused_until`` and
    ``rectifying_unit`` as its workflow reports them now; ``wait``: how long each request's
    answer is waited for."""
    report = RefreshReport()
    with Session(engine) as session:
        open_ids = session.exec(
            select(ServiceRequest.request_id).where(
                or_(
                    col(ServiceRequest.state).not_in(sorted(TERMINAL_STATES)),
                    # closed, its workflow running on while a bad rating's 整改 is open
                    and_(
                        col(ServiceRequest.state) == State.CLOSED,
                        col(ServiceRequest.rating) <= BAD_RATING,
                    ),
                )
            )
        ).all()
    for request_id in open_ids:
        handle = client.get_workflow_handle(workflow_id(request_id))
        try:
            view = await handle.query("view", result_type=RequestView, rpc_timeout=wait)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                report.missing.append(request_id)
            elif exc.status in UNANSWERED:
                report.unanswered.append((request_id, f"{exc.status.name}: {exc.message}"))
            else:
                raise
            continue
        except WorkflowQueryFailedError as exc:  # the query itself failed in the workflow
            report.unanswered.append((request_id, str(exc)))
            continue
        report.checked += 1
        if _write(engine, request_id, view):
            report.updated.append(request_id)
    return report


def _write(engine: Engine, request_id: str, view: RequestView) -> bool:
    """Write the view's ``awaiting``, follow-up due time, pause end and owing unit unless they
    are there already or a transition newer than the view wrote the row; whether it wrote."""
    sequence = view.timeline[-1].sequence if view.timeline else 0
    values = {
        "awaiting": awaiting_text(view.summary.awaiting),
        "follow_up_due_at": view.summary.follow_up_due_at,
        "paused_until": view.summary.paused_until,
        "rectifying_unit": view.summary.rectifying_unit,
    }
    statement = (
        update(_table)
        .where(_table.c.request_id == request_id, _table.c.last_sequence <= sequence)
        .where(or_(*(_table.c[name].is_distinct_from(value) for name, value in values.items())))
        .values(**values)
    )
    with begin_write(engine) as conn:
        return bool(conn.execute(statement).rowcount)
