"""Lifecycle cases the time-skipping server cannot run, on the real dev server.

Continue-as-new, search attributes and a timer racing an update. The calendar here is
"always open" so that real seconds are business seconds. Each finished history is replayed
at once; with TIERFLOW_RECORD_HISTORIES=1 it is also saved under histories/ for the
replay suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowUpdateFailedError

from schemas.domain import ClockKind, SlaStatus, State, Tier
from schemas.lifecycle import ActionKind, RequestView
from tests.utils.eventually import eventually
from tests.utils.factories import ALWAYS_OPEN, ENTERPRISE, action, caseworker, make_policy
from tests.workflows.dev_server import (
    SECOND,
    replay_and_maybe_record,
    running,
    start,
    started,
)
from tests.workflows.harness import HISTORIES, StandIns
from workflows.service_request import ServiceRequestWorkflow


@pytest_asyncio.fixture
async def dev_worker(
    temporal_client: Client, task_queue: str
) -> AsyncIterator[tuple[Client, str, StandIns]]:
    policy = make_policy(4 * SECOND, 8 * SECOND, 2 * SECOND, ALWAYS_OPEN)
    async with running(temporal_client, task_queue, policy) as worker:
        yield worker


async def test_continue_as_new_carries_state_and_idempotency(dev_worker) -> None:
    client, queue, stand_ins = dev_worker
    handle = await start(client, queue)
    first_run = (await handle.describe()).run_id
    cw = caseworker((await handle.query(ServiceRequestWorkflow.view)).summary.institution_id)
    ack = action(ActionKind.ACKNOWLEDGE, cw)
    await handle.execute_update(ServiceRequestWorkflow.act, ack, id=ack.action_id)
    for n in range(12):  # each comment adds ~10 history events; the server suggests at 60
        note = action(ActionKind.COMMENT, cw, text=f"note {n}")
        await handle.execute_update(ServiceRequestWorkflow.act, note, id=note.action_id)
    # the workflow continues as new at its first idle moment after the server suggests it

    async def continued() -> bool:
        return (await handle.describe()).run_id != first_run

    await eventually(continued, timeout=5, what="a continue-as-new")
    view: RequestView = await handle.query(ServiceRequestWorkflow.view)
    assert view.summary.state is State.ACKNOWLEDGED
    assert len([e for e in view.timeline if e.event_type.value == "commented"]) == 12
    # the acknowledge from the first run is still known: a redelivery changes nothing
    again = await handle.execute_update(ServiceRequestWorkflow.act, ack, id=f"re-{ack.action_id}")
    assert again.duplicate
    events = stand_ins.events(view.summary.request_id)
    assert events.count("acknowledged") == 1 and events.count("commented") == 12
    sequences = [r.sequence for r in stand_ins.persisted if r.request_id == view.summary.request_id]
    assert sequences == list(range(1, len(sequences) + 1))  # no gap, no repeat across runs
    await replay_and_maybe_record(client, handle, "continue-as-new")


async def test_search_attributes_follow_the_request(dev_worker) -> None:
    client, queue, _ = dev_worker
    handle, view = await started(client, queue)
    institution = view.summary.institution_id
    query = (
        f'WorkflowId = "{handle.id}" AND TierflowState = "assigned" '
        f'AND TierflowInstitution = "{institution}" AND TierflowTier = "county"'
    )

    async def found() -> list[str]:
        return [w.id async for w in client.list_workflows(query)]

    assert await eventually(found, timeout=20, what="the workflow in a search") == [handle.id]
    await client.get_workflow_handle(handle.id).terminate("test done")


async def test_breach_escalation_and_pause_on_real_time(dev_worker) -> None:
    client, queue, stand_ins = dev_worker
    handle, view = await started(client, queue)
    request_id = view.summary.request_id
    escalations = await eventually(  # 4 s response target at the county, then escalation
        lambda: stand_ins.of_type(request_id, "escalated"), timeout=20, what="an escalation"
    )
    escalated = escalations[0]
    assert escalated.to_tier is Tier.MUNICIPAL and escalated.reason == "sla_breach:response"
    assert [w.details["threshold"] for w in stand_ins.of_type(request_id, "sla_warning")][:2] == [
        0.5,
        0.8,
    ]
    municipal = caseworker(escalated.institution_id)
    for kind, kw in (
        (ActionKind.ACKNOWLEDGE, {}),
        (ActionKind.REQUEST_INFO, {"text": "send the audit"}),
    ):
        a = action(kind, municipal, **kw)
        await handle.execute_update(ServiceRequestWorkflow.act, a, id=a.action_id)
    # the resolution clock stops: no deadline is armed while the enterprise is asked (that it
    # then cannot breach however long it waits: test_lifecycle's time-skipping pause test)
    paused: RequestView = await handle.query(ServiceRequestWorkflow.view)
    resolution = next(
        c for c in paused.clocks if c.kind is ClockKind.RESOLUTION and c.tier is paused.summary.tier
    )
    assert paused.summary.state is State.AWAITING_ENTERPRISE
    assert resolution.running_since is None and resolution.deadline is None
    a = action(ActionKind.PROVIDE_INFO, ENTERPRISE, text="attached")
    await handle.execute_update(ServiceRequestWorkflow.act, a, id=a.action_id)
    a = action(ActionKind.RESOLVE, municipal, text="solved")
    await handle.execute_update(ServiceRequestWorkflow.act, a, id=a.action_id)
    result = await handle.result()  # closes after the 2 s reopen window
    assert result.state is State.CLOSED
    breaches = stand_ins.of_type(request_id, "sla_breached")
    assert "resolution" not in [b.details["clock"] for b in breaches]
    await replay_and_maybe_record(client, handle, "breach-pause-close")


async def test_an_action_before_the_breach_stops_the_response_clock(dev_worker) -> None:
    """An action and a breach, in either order, leave history and the audit trail agreeing.

    Before the deadline here, after it in the next test; both in one workflow task (the
    timer fired while the worker was down) in test_late_action.
    """
    client, queue, stand_ins = dev_worker
    handle, view = await started(client, queue)
    request_id = view.summary.request_id
    ack = action(ActionKind.ACKNOWLEDGE, caseworker(view.summary.institution_id))
    result = await handle.execute_update(ServiceRequestWorkflow.act, ack, id=ack.action_id)
    assert result.tier is Tier.COUNTY
    events = stand_ins.events(request_id)  # persisted before the update answered
    assert "acknowledged" in events and "escalated" not in events
    after: RequestView = await handle.query(ServiceRequestWorkflow.view)
    response = next(c for c in after.clocks if c.kind is ClockKind.RESPONSE)
    assert response.status is SlaStatus.STOPPED  # no breach can follow
    await client.get_workflow_handle(handle.id).terminate("test done")


async def test_an_action_after_the_breach_is_refused_at_the_old_tier(dev_worker) -> None:
    client, queue, stand_ins = dev_worker
    handle, view = await started(client, queue)
    request_id = view.summary.request_id
    await eventually(  # the 4 s response deadline at the county
        lambda: "escalated" in stand_ins.events(request_id), timeout=20, what="the escalation"
    )
    ack = action(ActionKind.ACKNOWLEDGE, caseworker(view.summary.institution_id))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(ServiceRequestWorkflow.act, ack, id=ack.action_id)
    assert refused.value.cause.type == "Forbidden"  # the request is at the municipal tier
    assert "acknowledged" not in stand_ins.events(request_id)
    await client.get_workflow_handle(handle.id).terminate("test done")


def test_histories_folder_exists() -> None:
    assert HISTORIES.is_dir()
