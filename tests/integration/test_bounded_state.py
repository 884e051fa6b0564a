"""A request's state stays bounded on the real stack: 1,000 comments of the largest size.

The real worker (real activities, the SQLite read model, Kafka, the dev server, whose
``suggestContinueAsNew`` the session sets low) runs a round-the-clock policy whose targets lie
far beyond the test and whose reopen window is 2 s. A caseworker adds 1,000 comments of the
largest text the schema accepts (30,000 bytes each, 30 MB in all): the workflow continues as
new, answers ``view`` far below gRPC's 4 MiB, carries far less than Temporal's 2 MB payload
limit into each new run, and still closes; the read model keeps every comment in full.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry
from sqlmodel import Session

from schemas.domain import State
from schemas.lifecycle import ActionKind, RequestView
from tests.utils.factories import caseworker, make_request
from tests.utils.fast_policy import Targets, policy_worker
from tests.utils.stack_helpers import act, start_request
from tests.workflows.test_bounded_state import MIB, first_input_bytes, largest_comment
from tierflow.db import repository
from tierflow.metrics import WorkerMetrics
from workflows.records import MAX_TIMELINE
from workflows.service_request import ServiceRequestWorkflow

COMMENTS = 1000
IN_FLIGHT = 9  # Temporal refuses more than 10 updates in flight on one workflow
QUIET = Targets(response=100_000, resolution=200_000, reopen_window=2)


async def test_a_thousand_largest_comments_continue_as_new_answer_view_and_close(stack) -> None:
    text = largest_comment()
    assert len(text.encode()) == 30_000  # the schema's limit, not a stub
    async with policy_worker(stack, QUIET, WorkerMetrics(CollectorRegistry()), "bounded") as queue:
        req = make_request()
        handle = await start_request(stack, req, task_queue=queue)
        first_run = (await handle.describe()).run_id
        view: RequestView = await handle.query(ServiceRequestWorkflow.view)
        cw = caseworker(view.summary.institution_id or "")
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def comment() -> None:
            async with slots:
                await act(handle, ActionKind.COMMENT, cw, text=text)

        await asyncio.gather(*(comment() for _ in range(COMMENTS)))

        assert (await handle.describe()).run_id != first_run  # it continued as new
        view = await handle.query(ServiceRequestWorkflow.view)
        assert len(view.model_dump_json().encode()) < MIB  # far below gRPC's 4 MiB
        assert len(view.timeline) == MAX_TIMELINE
        assert view.timeline_truncated + len(view.timeline) == 2 + COMMENTS  # + submit, assign
        assert await first_input_bytes(handle) < MIB  # the carried state: far below 2 MB

        # every comment's full text is in the read model (each update answered once persisted)
        with Session(stack.engine) as session:
            bodies = [c.body for c in repository.comments(session, req.request_id)]
        assert len(bodies) == COMMENTS and set(bodies) == {text}

        await act(handle, ActionKind.ACKNOWLEDGE, cw)
        await act(handle, ActionKind.RESOLVE, cw, text="已办结")
        assert (await handle.result()).state is State.CLOSED  # after the 2 s reopen window
    with Session(stack.engine) as session:
        row = repository.get_request(session, req.request_id)
        audit = [t.event_type.value for t in repository.transitions(session, req.request_id)]
    assert row is not None and row.state is State.CLOSED
    assert audit.count("commented") == COMMENTS and audit[-1] == "closed"
