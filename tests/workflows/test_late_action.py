"""An action handled after its deadline passed cannot erase the breach (dev server).

The worker is down when the response deadline passes (an outage); the timer and the
caseworker's acknowledgement then reach the workflow in one task. The breach must be recorded
and escalated first. The time-skipping server hangs on a timer and an update in one task
(sdk-java #2606), so this runs on the dev server with an always-open calendar.
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError

from schemas.domain import Tier
from schemas.lifecycle import ActionKind, RequestView
from tests.utils.eventually import eventually
from tests.utils.factories import ALWAYS_OPEN, action, caseworker, make_policy
from tests.workflows.dev_server import SECOND, replay_and_maybe_record, start
from tests.workflows.harness import StandIns
from workflows.service_request import ServiceRequestWorkflow


async def test_acknowledgement_after_an_outage_leaves_the_breach(
    temporal_client: Client, task_queue: str
) -> None:
    stand_ins = StandIns(policy=make_policy(3 * SECOND, 600 * SECOND, 2 * SECOND, ALWAYS_OPEN))
    stand_ins.policy.warning_thresholds = []  # the deadline is the only timer due

    async with stand_ins.worker(temporal_client, task_queue):
        handle = await start(temporal_client, task_queue)
        view: RequestView = await handle.query(ServiceRequestWorkflow.view)
        request_id = view.summary.request_id
        await eventually(
            lambda: "assigned" in stand_ins.events(request_id), timeout=10, what="assigned"
        )
    assert view.summary.response_due_at is not None

    async def deadline_fired() -> bool:  # while no worker runs: the outage outlasts it
        history = await handle.fetch_history()
        return any(e.event_type == EventType.EVENT_TYPE_TIMER_FIRED for e in history.events)

    await eventually(deadline_fired, timeout=20, what="the response deadline's timer firing")
    ack = action(ActionKind.ACKNOWLEDGE, caseworker(view.summary.institution_id))
    late = asyncio.create_task(
        handle.execute_update(ServiceRequestWorkflow.act, ack, id=ack.action_id)
    )
    async with stand_ins.worker(temporal_client, task_queue):
        try:
            await late
            outcome = "acknowledged"
        except WorkflowUpdateFailedError as err:
            outcome = err.cause.type  # the request moved on: the county may no longer act
        events = await eventually(
            lambda: (
                stand_ins.events(request_id)
                if "escalated" in stand_ins.events(request_id)
                else None
            ),
            timeout=10,
            what="the escalation",
        )
        assert events[2:4] == ["sla_breached", "escalated"]  # before anything the action did
        assert outcome == "Forbidden" and "acknowledged" not in events
        after: RequestView = await handle.query(ServiceRequestWorkflow.view)
        assert after.summary.tier is Tier.MUNICIPAL and after.holds[0].response_breached
        await temporal_client.get_workflow_handle(handle.id).terminate("test done")
        await replay_and_maybe_record(temporal_client, handle, "late-action")
