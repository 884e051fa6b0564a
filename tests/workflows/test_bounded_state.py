"""A request's workflow state stays bounded whatever its callers send (dev server).

256 comments of the largest size the schema accepts (about 7.7 MB in all, past both limits
below; ``tests/integration/test_bounded_state.py`` sends 1,000 through the real stack): the
workflow still continues as new (its state is one payload, limit 2 MB), answers ``view`` (one
gRPC message, limit 4 MiB) and closes; the full text of every comment reaches the read model
through batches sized by bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client, WorkflowHandle

from schemas.domain import State
from schemas.lifecycle import ActionKind, ActionRequest, RequestView
from tests.utils.factories import ALWAYS_OPEN, action, caseworker, make_policy
from tests.workflows.dev_server import SECOND, replay_and_maybe_record, running, start
from tests.workflows.harness import StandIns
from workflows.activity_calls import OUTBOX_BATCH_BYTES
from workflows.records import MAX_TIMELINE
from workflows.service_request import ServiceRequestWorkflow

COMMENTS = 256  # a multiple of the 8 callers below
MIB = 1024 * 1024


def largest_comment() -> str:
    """Return the longest comment of 3-byte characters the schema accepts (bytes or chars)."""
    low, high = 1, 1_000_000
    while low < high:
        mid = (low + high + 1) // 2
        try:
            ActionRequest(
                action_id="probe",
                kind=ActionKind.COMMENT,
                actor=caseworker("x"),
                text="办" * mid,
            )
            low = mid
        except ValidationError:
            high = mid - 1
    return "办" * low


@pytest_asyncio.fixture
async def slow_clock_worker(
    temporal_client: Client, task_queue: str
) -> AsyncIterator[tuple[Client, str, StandIns]]:
    """Targets far beyond the test (no escalation), a reopen window of 2 s."""
    policy = make_policy(100, 200, 2 * SECOND, ALWAYS_OPEN)
    async with running(temporal_client, task_queue, policy, max_concurrent_activities=4) as worker:
        yield worker


async def first_input_bytes(handle: WorkflowHandle) -> int:
    """Return the size of the current run's input: the state carried by continue-as-new."""
    history = await handle.fetch_history()
    started = history.events[0]
    assert started.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    attrs = started.workflow_execution_started_event_attributes
    return sum(p.ByteSize() for p in attrs.input.payloads)


async def test_hundreds_of_largest_comments_keep_the_state_bounded(slow_clock_worker) -> None:
    client, queue, stand_ins = slow_clock_worker
    text = largest_comment()
    assert len(text.encode()) > 1000  # a real maximum, not a stub
    assert COMMENTS * len(text.encode()) > 4 * MIB  # more than a view or a run could carry
    handle = await start(client, queue)
    first_run = (await handle.describe()).run_id
    view: RequestView = await handle.query(ServiceRequestWorkflow.view)
    request_id = view.summary.request_id
    cw = caseworker(view.summary.institution_id or "")

    async def comment() -> None:
        note = action(ActionKind.COMMENT, cw, text=text)
        await handle.execute_update(ServiceRequestWorkflow.act, note, id=note.action_id)

    # 8 callers at a time: Temporal refuses more than 10 updates in flight on one workflow
    for _ in range(COMMENTS // 8):
        await asyncio.gather(*(comment() for _ in range(8)))

    assert (await handle.describe()).run_id != first_run  # it continued as new
    view = await handle.query(ServiceRequestWorkflow.view)
    size = len(view.model_dump_json().encode())
    assert size < MIB  # far below gRPC's 4 MiB
    assert len(view.timeline) == MAX_TIMELINE
    assert view.timeline_truncated + len(view.timeline) == 2 + COMMENTS  # submitted, assigned
    assert await first_input_bytes(handle) < MIB  # the carried state: far below 2 MB

    for kind, kw in ((ActionKind.ACKNOWLEDGE, {}), (ActionKind.RESOLVE, {"text": "done"})):
        step = action(kind, cw, **kw)
        await handle.execute_update(ServiceRequestWorkflow.act, step, id=step.action_id)
    assert (await handle.result()).state is State.CLOSED  # after the 2 s reopen window

    comments = stand_ins.of_type(request_id, "commented")
    assert len(comments) == COMMENTS and all(c.reason == text for c in comments)  # full text
    sizes = [
        sum(len(r.model_dump_json()) for r in batch.records)
        for batch in stand_ins.batches
        if len(batch.records) > 1
    ]
    assert sizes and max(sizes) <= OUTBOX_BATCH_BYTES
    await replay_and_maybe_record(client, handle, "bounded-state")  # every run replays
