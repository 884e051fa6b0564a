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
from datetime import timedelta

from temporalio.client import Client

from schemas.domain import State
from tests.utils.eventually import eventually
from tests.utils.factories import ALWAYS_OPEN, make_policy
from tests.workflows.dev_server import (
    SECOND,
    renewed_after,
    replay_and_maybe_record,
    start_renewing,
)
from tests.workflows.harness import StandIns
from workflows.service_request import ServiceRequestWorkflow


async def test_an_admission_held_past_a_renewed_task_replays(
    temporal_client: Client, task_queue: str
) -> None:
    # the first warning falls 2 s after the submission: its timer fires a few ms after it
    stand_ins = StandIns(policy=make_policy(4 * SECOND, 8 * SECOND, 2 * SECOND, ALWAYS_OPEN))
    gate = stand_ins.admission_gate = asyncio.Event()
    async with stand_ins.worker(temporal_client, task_queue):
        handle = await start_renewing(temporal_client, task_queue)
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
        handle = await start_renewing(temporal_client, task_queue)

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
