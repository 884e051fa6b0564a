"""The calendar is pinned from the workflow's own clock, never from ``submitted_at``.

On the time-skipping server with the real ``load_policy`` activity and the packaged policy:
a request whose client claims it was submitted years earlier (a direct Temporal client, or a
request accepted before the edge rules) still gets the holidays of the year it runs in.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.admission import AdmissionActivities
from activities.policy import PolicyActivities
from schemas.domain import ClockKind
from tests.utils.factories import make_request
from tests.workflows.harness import StandIns
from tests.workflows.test_lifecycle import sleep_until, submit, view
from tierflow.policy import load_policy_file
from tierflow_dev.devstack.temporal import find_executable
from workflows.request_types import REQUEST_WORKFLOWS

CST = timezone(timedelta(hours=8))
# Spring Festival 2027 as the packaged policy's calendar has it: Fri 5 Feb and Mon 8 to
# Wed 10 Feb off (with the weekend between).
FESTIVAL_2027 = {datetime(2027, 2, d).date() for d in (5, 6, 7, 8, 9, 10)}


@pytest_asyncio.fixture
async def real_policy_worker(
    stand_ins: StandIns,
) -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A time-skipping server and a worker whose load_policy is the real activity."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_executable("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    policy = PolicyActivities(load_policy_file())
    try:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[*REQUEST_WORKFLOWS],
            activities=[
                AdmissionActivities(
                    policy.load_policy, stand_ins.resolve_institution
                ).admit_request,
                policy.load_policy,
                stand_ins.resolve_institution,
                stand_ins.record_transitions,
            ],
        ):
            yield env, queue
    finally:
        await env.shutdown()


async def test_a_back_dated_submission_gets_the_calendar_of_the_year_it_runs_in(
    real_policy_worker,
) -> None:
    env, queue = real_policy_worker
    # Thursday 4 Feb 2027, 15:00 in Shanghai: 2.5 business hours are left that day.
    await sleep_until(env, datetime(2027, 2, 4, 15, 0, tzinfo=CST))
    # Claims 2024: the edge refuses that now, a direct Temporal client does not go through it.
    req = make_request().model_copy(update={"submitted_at": datetime(2024, 6, 3, tzinfo=UTC)})
    handle = await submit(env, queue, req)

    state = await view(handle)
    [response] = [c for c in state.clocks if c.kind is ClockKind.RESPONSE]
    assert response.deadline is not None
    due = response.deadline.astimezone(CST)
    # 8 business hours: 2.5 on Thursday, then Spring Festival, then 5.5 on Thursday 11 Feb.
    # Pinned from 2024 (years 2024-2026), 2027 had no holidays: due Friday 5 Feb at 16:00.
    assert due.date() not in FESTIVAL_2027
    assert abs(due - datetime(2027, 2, 11, 16, 0, tzinfo=CST)) < timedelta(seconds=1)
    assert state.summary.submitted_at == req.submitted_at  # shown as the client sent it


async def test_the_workflow_input_keeps_decoding_with_a_time_zone_less_submitted_at(
    real_policy_worker,
) -> None:
    """A request stored before the edge refused naive times runs on the workflow's clock."""
    env, queue = real_policy_worker
    req = make_request().model_copy(update={"submitted_at": datetime(2026, 3, 2, 9, 30)})
    handle = await submit(env, queue, req)
    state = await view(handle)
    started = await env.get_current_time()
    assert state.summary.submitted_at.tzinfo is not None  # the workflow start, not a bare time
    assert abs(state.summary.submitted_at - started) < timedelta(minutes=1)
    assert [(c.kind.value, c.deadline is not None) for c in state.clocks] == [
        ("response", True),
        ("resolution", True),
        ("sign_for", True),
    ]
