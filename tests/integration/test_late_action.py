"""An action handled after its deadline passed leaves the breach in the audit trail (real stack).

The real worker (real activities, the SQLite read model, Kafka, the dev server) runs on a task
queue of its own with a round-the-clock policy: a 5 s response target at the county, the tiers
above kept quiet. The worker stops once the request is assigned (an outage); the response
deadline falls due while nothing polls the queue; then the county's caseworker acknowledges and
the enterprise comments. A worker started again on the queue gets the timer and both actions
in one workflow task: the breach and its escalation are recorded first, the acknowledgement is
judged against the request as it now is (refused: the county no longer holds it), and the
comment follows the breach in the audit trail.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlmodel import Session
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from schemas.domain import Tier
from schemas.lifecycle import ActionKind, RequestView
from tests.utils.eventually import eventually
from tests.utils.factories import ENTERPRISE, caseworker, make_request
from tests.utils.fast_policy import Targets, policy_worker
from tests.utils.stack_helpers import act, start_request
from tierflow.db import repository
from tierflow.metrics import WorkerMetrics
from workflows.service_request import ServiceRequestWorkflow

RESPONSE_SECONDS = 5
QUIET = (1000.0, 1000.0)  # the tiers above the county: nothing falls due during the test
TARGETS = Targets(
    response=RESPONSE_SECONDS,
    resolution=600,
    tier_factors=dict.fromkeys((Tier.MUNICIPAL, Tier.PROVINCIAL, Tier.NATIONAL), QUIET),
)


async def outcome(update: asyncio.Task) -> str:
    """'applied', or the type of the workflow's refusal."""
    try:
        await update
    except WorkflowUpdateFailedError as err:
        return str(err.cause.type)
    return "applied"


async def test_actions_after_an_outage_leave_the_breach_in_the_audit_trail(stack) -> None:
    queue = f"late-{uuid.uuid4().hex[:8]}"
    metrics = WorkerMetrics(CollectorRegistry())
    req = make_request()

    def audit() -> list[tuple[str, str]]:
        with Session(stack.engine) as session:
            return [
                (t.event_type.value, t.actor_id)
                for t in repository.transitions(session, req.request_id)
            ]

    async with policy_worker(stack, TARGETS, metrics, "late", task_queue=queue):
        handle: WorkflowHandle = await start_request(stack, req, task_queue=queue)
        view: RequestView = await handle.query(ServiceRequestWorkflow.view)
        await eventually(lambda: len(audit()) == 2, what="submitted and assigned recorded")
    stopped = datetime.now(UTC)
    due = view.summary.response_due_at
    assert due is not None and stopped < due  # the worker was gone before the deadline

    async def overdue() -> bool:  # while no worker polls: the outage outlasts the deadline
        if datetime.now(UTC) <= due:
            return False
        history = await handle.fetch_history()  # its warning timer came due, unhandled
        return any(e.event_type == HistoryEventType.EVENT_TYPE_TIMER_FIRED for e in history.events)

    await eventually(overdue, timeout=30, what="the response deadline passing in the outage")
    assert [kind for kind, _ in audit()] == ["submitted", "assigned"]  # nothing handled it yet
    county = caseworker(view.summary.institution_id or "")
    ack = asyncio.create_task(act(handle, ActionKind.ACKNOWLEDGE, county))
    note = asyncio.create_task(act(handle, ActionKind.COMMENT, ENTERPRISE, text="请尽快回复"))

    async with policy_worker(stack, TARGETS, metrics, "late", task_queue=queue):
        assert await outcome(ack) == "Forbidden"  # the county no longer holds the request
        assert await outcome(note) == "applied"
        rows = await eventually(
            lambda: (rows := audit()) and rows[-1][0] == "commented" and rows,
            what="the comment in the audit trail",
        )
        after: RequestView = await handle.query(ServiceRequestWorkflow.view)
        await stack.client.get_workflow_handle(handle.id).terminate("test done")
    kinds = [kind for kind, _ in rows]
    assert kinds.index("sla_breached") < kinds.index("escalated") < kinds.index("commented")
    assert ("commented", ENTERPRISE.id) in rows
    assert "acknowledged" not in kinds  # the late acknowledgement did not stop the clock
    assert after.summary.tier is Tier.MUNICIPAL and after.holds[0].response_breached
