"""The local stack's demo desk takes each work-order step on real demo requests (real worker)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from schemas.domain import State
from schemas.lifecycle import ActionKind
from tierflow import submission
from tierflow.constants import workflow_id
from tierflow_dev.demo import demo_requests
from tierflow_dev.demo_desk import SCRIPTS, walk
from whatif.run import VerifyJob, run_verify
from whatif.trail import Scope
from workflows.service_request import ServiceRequestWorkflow


async def test_the_demo_desk_walks_every_script_and_again_changes_nothing(stack) -> None:
    seed = random.randrange(10**6, 10**7)
    requests = demo_requests(len(SCRIPTS), seed=seed)
    for request in requests:
        await submission.submit_request(
            stack.client,
            request,
            stack.settings.task_queue,
            recorded=submission.read_model_holds(stack.engine),
        )
    ids = [r.request_id for r in requests]

    taken = await walk(stack.client, ids)
    expected = [kind.value for script in SCRIPTS for kind, _, _ in script]
    assert sum(taken.values()) == len(expected) and set(taken) == set(expected)

    async def state(n: int) -> State:
        handle = stack.client.get_workflow_handle(workflow_id(ids[n]))
        return (await handle.query(ServiceRequestWorkflow.view)).summary.state

    assert [await state(n) for n in range(len(SCRIPTS))] == [
        State.ASSIGNED,  # signed for
        State.ACKNOWLEDGED,  # with an approved extension
        State.ASSIGNED,  # a return refused
        State.SUSPENDED,
        State.RESOLVED,
        State.ASSIGNED,  # left waiting for sign-for
    ]
    extended = await stack.client.get_workflow_handle(workflow_id(ids[1])).query(
        ServiceRequestWorkflow.view
    )
    assert [(a.kind, a.approved) for a in extended.applications] == [
        (ActionKind.REQUEST_EXTENSION, True)
    ]
    # again: every action id is known, so nothing more happens
    events = len(extended.timeline)
    assert await walk(stack.client, ids) == taken
    again = await stack.client.get_workflow_handle(workflow_id(ids[1])).query(
        ServiceRequestWorkflow.view
    )
    assert len(again.timeline) == events

    # the what-if replays the demo corpus exactly: every event, at its instant
    scope = Scope(request_prefix=f"demo-{seed}-")
    job = VerifyJob(stack.settings.resolved_database_url, scope, datetime.now(UTC), processes=1)
    found = run_verify(job)
    assert [d.describe() for d in found.disagreements] == [] and found.skipped == []
    assert (found.requests, found.agreed) == (len(SCRIPTS), len(SCRIPTS))
