"""A run replays on the instants it ran on, however its workflow tasks were cut.

While a local activity runs, the SDK may complete the workflow task with no command: to
renew a task that would time out (a slow lookup or record call), or to answer a query that
came with it. On replay the SDK does not wake the workflow for such an empty task: the step
that started the local activity runs at the instant of the task after it. A step that read
``workflow.now()`` then would decide on a later instant than it ran on: the admission's
deadlines move, or a timer's step finds more due than it did, and the replay fails with a
nondeterminism error (the request is wedged once its worker restarts).

Real dev server, stand-in activities; a one-second task timeout makes the SDK renew a held
task after 0.8 s, and a local activity is held until it has.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from schemas.domain import State
from schemas.lifecycle import WorkflowState
from tests.utils.eventually import eventually
from tests.utils.factories import ALWAYS_OPEN, make_policy, make_request
from tests.workflows.dev_server import SECOND, replay_and_maybe_record
from tests.workflows.harness import StandIns
from tierflow.constants import workflow_id
from workflows.service_request import ServiceRequestWorkflow

TASK_TIMEOUT = timedelta(seconds=1)  # the SDK renews a task held by a local activity at 0.8 s


async def renewed_after(handle: WorkflowHandle, instant: datetime) -> bool:
    """Whether a workflow task that completed empty was followed by one started after
    ``instant`` (the SDK renewed a task held by a local activity)."""
    events = (await handle.fetch_history()).events
    empty = any(
        a.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        and b.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
        for a, b in zip(events, events[1:], strict=False)
    )
    started = [
        e.event_time.ToDatetime().replace(tzinfo=instant.tzinfo)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]
    return empty and started[-1] > instant


async def start(client: Client, queue: str) -> WorkflowHandle:
    req = make_request()
    return await client.start_workflow(
        ServiceRequestWorkflow.run,
        WorkflowState(request=req),
        id=workflow_id(req.request_id),
        task_queue=queue,
        task_timeout=TASK_TIMEOUT,
    )


async def test_an_admission_held_past_a_renewed_task_replays(
    temporal_client: Client, task_queue: str
) -> None:
    # the first warning falls 2 s after the submission: its timer fires a few ms after it
    stand_ins = StandIns(policy=make_policy(4 * SECOND, 8 * SECOND, 2 * SECOND, ALWAYS_OPEN))
    gate = stand_ins.admission_gate = asyncio.Event()
    async with stand_ins.worker(temporal_client, task_queue):
        handle = await start(temporal_client, task_queue)
        started = (await handle.describe()).start_time
        assert started is not None
        await eventually(
            lambda: renewed_after(handle, started), timeout=10, what="the held task renewed"
        )
        gate.set()
        view = await handle.query(ServiceRequestWorkflow.view)
        request_id = view.summary.request_id
        await eventually(
            lambda: stand_ins.of_type(request_id, "sla_warning"), timeout=10, what="a warning"
        )
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "clock-admission-renewed")


async def test_a_deadlines_step_held_past_the_next_deadline_replays(
    temporal_client: Client, task_queue: str
) -> None:
    # warnings at 2 s and 3.2 s after the submission, the breach at 4 s
    stand_ins = StandIns(policy=make_policy(4 * SECOND, 8 * SECOND, 2 * SECOND, ALWAYS_OPEN))
    async with stand_ins.worker(temporal_client, task_queue):
        handle = await start(temporal_client, task_queue)

        async def routed() -> bool:
            view = await handle.query(ServiceRequestWorkflow.view)
            return view.summary.state is State.ASSIGNED

        await eventually(routed, timeout=10, what="the request routed")
        view = await handle.query(ServiceRequestWorkflow.view)
        request_id = view.summary.request_id
        second_warning = view.summary.submitted_at + timedelta(seconds=3.2)
        # the first warning's record call is held until a task starts past the second one
        gate = stand_ins.records_gate = asyncio.Event()
        await eventually(
            lambda: renewed_after(handle, second_warning), timeout=10, what="a renewed task"
        )
        gate.set()

        def warnings() -> list[float]:
            return [r.details["threshold"] for r in stand_ins.of_type(request_id, "sla_warning")]

        await eventually(lambda: len(warnings()) == 2, timeout=10, what="both warnings")
        assert warnings() == [0.5, 0.8]
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "clock-deadline-renewed")
