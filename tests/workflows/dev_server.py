"""Helpers of the workflow tests on the real dev server (session-scoped, see tests/fixtures).

A worker with stand-in activities pinning the test's policy, a started request, and the replay
of every run of a finished workflow. The calendar is "always open" in these tests, so that
real seconds are business seconds: ``SECOND`` is one in the hours ``make_policy`` takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateHandle, WorkflowUpdateStage

from schemas.domain import State
from schemas.lifecycle import (
    WORKFLOW_TYPE,
    ActionRequest,
    RequestSummary,
    RequestView,
    WorkflowState,
)
from schemas.policy import PinnedPolicy
from schemas.request import RequestInput
from tests.utils.eventually import eventually
from tests.utils.factories import make_policy, make_request
from tests.workflows.harness import StandIns, replay_and_keep
from tierflow.constants import workflow_id
from workflows.service_request import ServiceRequestWorkflow

SECOND = 1 / 3600


@asynccontextmanager
async def running(
    client: Client, task_queue: str, policy: PinnedPolicy, **options: Any
) -> AsyncIterator[tuple[Client, str, StandIns]]:
    """Run a worker whose stand-in activities pin ``policy``; yield client, queue, stand-ins."""
    stand_ins = StandIns(policy=policy)
    async with stand_ins.worker(client, task_queue, **options):
        yield client, task_queue, stand_ins


async def start(
    client: Client, queue: str, request_id: str | None = None, type_name: str = WORKFLOW_TYPE
) -> WorkflowHandle:
    """Start a request; return its handle once routed (it follows continue-as-new).

    ``type_name``: the workflow type, today's unless a test starts one of a type before it.
    """
    req = make_request(request_id)
    await client.start_workflow(
        type_name,
        WorkflowState(request=req),
        id=workflow_id(req.request_id),
        task_queue=queue,
    )
    handle = client.get_workflow_handle_for(  # no run id: follows continue-as-new
        ServiceRequestWorkflow.run, workflow_id(req.request_id)
    )

    async def routed() -> bool:
        view: RequestView = await handle.query(ServiceRequestWorkflow.view)
        return view.summary.state is not State.SUBMITTED

    await eventually(routed, timeout=10, what="request left submitted")
    return handle


async def started(
    client: Client, queue: str, type_name: str = WORKFLOW_TYPE
) -> tuple[WorkflowHandle, RequestView]:
    """Start a request; return its handle and its view once routed."""
    handle = await start(client, queue, type_name=type_name)
    return handle, await handle.query(ServiceRequestWorkflow.view)


async def replay_and_maybe_record(client: Client, handle: WorkflowHandle, name: str) -> None:
    """Replay every run of the workflow; optionally keep the histories for the replay suite."""
    async for execution in client.list_workflows(f'WorkflowId = "{handle.id}"'):
        run = client.get_workflow_handle(handle.id, run_id=execution.run_id)
        await replay_and_keep(await run.fetch_history(), name, execution.run_id)


# A task held by a local activity is renewed by the SDK at 80% of the task timeout: 0.8 s.
RENEWING_TASK_TIMEOUT = timedelta(seconds=1)


async def start_renewing(
    client: Client, queue: str, type_name: str = WORKFLOW_TYPE
) -> WorkflowHandle:
    """Start a request (not waiting for its routing) whose held tasks the SDK soon renews."""
    req = make_request()
    return await client.start_workflow(
        type_name,
        WorkflowState(request=req),
        id=workflow_id(req.request_id),
        task_queue=queue,
        task_timeout=RENEWING_TASK_TIMEOUT,
        result_type=RequestSummary,
    )


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


async def let_in(handle: WorkflowHandle, sent: ActionRequest) -> WorkflowUpdateHandle[Any]:
    """Send an action; return once the validator let it in (its Update id is its own, so
    two actions sharing an action id are two Updates)."""
    return await handle.start_update(
        ServiceRequestWorkflow.act,
        sent,
        id=sent.update_id(),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )


@asynccontextmanager
async def routing_held(
    client: Client, queue: str
) -> AsyncIterator[tuple[StandIns, RequestInput, WorkflowHandle, asyncio.Event]]:
    """A new request started with its routing held (``start_held_in_routing``), its worker
    running for the block: the stand-ins, the request, its handle and the gate."""
    stand_ins = StandIns(policy=make_policy())
    req = make_request()
    async with stand_ins.worker(client, queue):
        handle, gate = await start_held_in_routing(client, queue, stand_ins, req)
        yield stand_ins, req, handle, gate


async def start_held_in_routing(
    client: Client, queue: str, stand_ins: StandIns, req: RequestInput
) -> tuple[WorkflowHandle, asyncio.Event]:
    """Start ``req`` with its routing held: the policy's lookup waits for the returned gate
    (set it to let routing end), and the held task is renewed, letting updates in, soon."""
    gate = stand_ins.admission_gate = asyncio.Event()
    handle = await client.start_workflow(
        ServiceRequestWorkflow.run,
        WorkflowState(request=req),
        id=workflow_id(req.request_id),
        task_queue=queue,
        task_timeout=timedelta(seconds=2),
    )
    return handle, gate
