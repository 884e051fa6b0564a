"""A request of today's type never runs on a worker that lacks the type.

Requests start as ``ServiceRequestV5``; a worker of the code before it knows only
``ServiceRequestV4``, ``ServiceRequestV3``, ``ServiceRequestV2`` and ``ServiceRequest``. If
the API is upgraded before the workers, such a worker fails the new request's workflow task
(the type is not registered) without failing the request, and the first upgraded worker runs
it from the start: no command of the old code (a patch marker, a timer cancelled at once,
overlapping local activities, clocks started on the first task's instant) can reach a V5
history, so it always replays on today's code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from schemas.domain import State
from schemas.lifecycle import WORKFLOW_TYPE, RequestView, WorkflowState
from tests.utils.eventually import eventually
from tests.utils.factories import ALWAYS_OPEN, make_policy, make_request
from tests.workflows.dev_server import SECOND, replay_and_maybe_record
from tests.workflows.harness import StandIns
from tierflow.constants import workflow_id
from workflows.request_types import (
    ServiceRequestStartedBefore,
    ServiceRequestV2,
    ServiceRequestV3,
    ServiceRequestV4,
)
from workflows.service_request import ServiceRequestWorkflow


async def test_a_worker_without_the_type_leaves_the_request_to_one_that_has_it(
    temporal_client: Client, task_queue: str
) -> None:
    stand_ins = StandIns(policy=make_policy(40 * SECOND, 80 * SECOND, 2 * SECOND, ALWAYS_OPEN))
    req = make_request()
    handle = await temporal_client.start_workflow(
        ServiceRequestWorkflow.run,
        WorkflowState(request=req),
        id=workflow_id(req.request_id),
        task_queue=task_queue,
        # the older worker may take an attempt as it stops: it times out in 2 s, not 10
        task_timeout=timedelta(seconds=2),
    )

    async def task_failed() -> bool:
        history = await handle.fetch_history()
        return any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events
        )

    async with stand_ins.worker(
        temporal_client,
        task_queue,
        workflows=[
            ServiceRequestV4,
            ServiceRequestV3,
            ServiceRequestV2,
            ServiceRequestStartedBefore,
        ],
    ):
        await eventually(task_failed, what="the older worker fails the task")
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING, "not failed"
    assert stand_ins.persisted == [], "the older worker recorded nothing"

    async with stand_ins.worker(temporal_client, task_queue):

        async def routed() -> bool:
            view: RequestView = await handle.query(ServiceRequestWorkflow.view)
            return view.summary.state is State.ASSIGNED

        await eventually(routed, what="today's worker runs the request")
        described = await handle.describe()
        await handle.terminate("test over")
    assert described.workflow_type == WORKFLOW_TYPE
    history = await handle.fetch_history()
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert "core_patch" not in markers
    assert [r.event_type.value for r in stand_ins.persisted] == ["submitted", "assigned"]
    await replay_and_maybe_record(temporal_client, handle, "older-worker-first")
