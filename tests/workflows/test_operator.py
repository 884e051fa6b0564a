"""Permanent activity failures hold a request for an operator, whose action ends the hold.

Time-skipping server; the stand-in activities fail the way the real ones do (a non-retryable
``ApplicationError`` from ``activities.failures``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from schemas.domain import ClockKind, Role, State, Tier
from schemas.lifecycle import ActionKind, RequestView
from schemas.request import Actor, RequestInput
from tests.utils.eventually import eventually
from tests.utils.factories import action, caseworker, make_request
from tests.workflows.harness import StandIns, replay_and_keep
from tests.workflows.test_lifecycle import act, start, submit, view

ADMIN = Actor(id="ops-admin", role=Role.ADMIN)


async def refused(handle: WorkflowHandle, kind: ActionKind, actor: Actor, **kw: object) -> str:
    """Return the failure type of an action the workflow refuses."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await act(handle, action(kind, actor, **kw))
    return str(err.value.cause.type)


def response_deadline(state: RequestView) -> datetime:
    deadline = next(c.deadline for c in state.clocks if c.kind is ClockKind.RESPONSE)
    assert deadline is not None
    return deadline


async def sleep_past(env: WorkflowEnvironment, deadline: datetime) -> None:
    """Skip to a minute past ``deadline`` (in business time a day may hold no working hour)."""
    await env.sleep(deadline - await env.get_current_time() + timedelta(minutes=1))


async def held(handle: WorkflowHandle) -> RequestView:
    async def waiting() -> RequestView | None:
        current = await view(handle)
        return current if current.operator is not None else None

    return await eventually(waiting, timeout=10, what="an operator hold")


async def replay_and_maybe_record(handle: WorkflowHandle, name: str) -> None:
    """Replay the run with today's code; with TIERFLOW_RECORD_HISTORIES=1 keep it."""
    history = await handle.fetch_history()
    await replay_and_keep(history, name, (await handle.describe()).run_id)


async def test_escalation_that_fails_permanently_waits_for_an_operator(
    ts_worker, stand_ins: StandIns
) -> None:
    env, queue = ts_worker
    stand_ins.route_fails_at.add(Tier.MUNICIPAL)
    req = make_request()
    handle = await submit(env, queue, req)
    county = caseworker((await view(handle)).summary.institution_id)
    await sleep_past(env, response_deadline(await view(handle)))  # the response clock breaches

    state = await held(handle)
    assert state.operator.step == "resolve_institution" and state.operator.redo == "escalate"
    assert "municipal entry missing" in state.operator.message
    assert state.summary.needs_operator and state.summary.tier is Tier.COUNTY
    assert state.allowed_actions == [ActionKind.OPERATOR_RETRY, ActionKind.OPERATOR_RESOLVE]
    needed = stand_ins.of_type(req.request_id, "operator_needed")
    assert len(needed) == 1 and needed[0].details["step"] == "resolve_institution"
    assert needed[0].summary.needs_operator
    # only an admin's operator action moves it; everything else is refused with the reason
    assert await refused(handle, ActionKind.ACKNOWLEDGE, county) == "NeedsOperator"
    assert await refused(handle, ActionKind.OPERATOR_RETRY, county) == "Forbidden"

    await env.sleep(timedelta(days=7))  # clocks keep firing while it waits, a weekend too
    breaches = [b.details["clock"] for b in stand_ins.of_type(req.request_id, "sla_breached")]
    assert breaches == ["response", "resolution"]
    assert len(stand_ins.of_type(req.request_id, "operator_needed")) == 1

    stand_ins.route_fails_at.clear()  # the directory is fixed
    retried = await act(handle, action(ActionKind.OPERATOR_RETRY, ADMIN))
    assert retried.kind is ActionKind.OPERATOR_RETRY

    async def escalated() -> RequestView | None:
        current = await view(handle)
        return current if current.summary.tier is Tier.MUNICIPAL else None

    after = await eventually(escalated, timeout=10, what="the retried escalation")
    assert after.operator is None and not after.summary.needs_operator
    assert stand_ins.events(req.request_id)[-2:] == ["operator_retried", "escalated"]
    assert await refused(handle, ActionKind.OPERATOR_RESOLVE, ADMIN, text="x") == (
        "InvalidTransition"
    )
    await replay_and_maybe_record(handle, "operator-retry-escalation")


async def held_at_admission(
    ts_worker, stand_ins: StandIns
) -> tuple[RequestInput, WorkflowHandle, RequestView]:
    """Start a request whose policy fails validation; return it once held for an operator."""
    env, queue = ts_worker
    stand_ins.policy_fails = True
    req = make_request()
    handle = await start(env, queue, req)
    return req, handle, await held(handle)


async def test_policy_that_fails_validation_holds_admission_until_retried(
    ts_worker, stand_ins: StandIns
) -> None:
    req, handle, state = await held_at_admission(ts_worker, stand_ins)
    assert state.summary.state is State.SUBMITTED and state.operator.step == "load_policy"
    assert stand_ins.events(req.request_id) == ["submitted", "operator_needed"]

    await act(handle, action(ActionKind.OPERATOR_RETRY, ADMIN))  # still failing: held again
    await eventually(
        lambda: stand_ins.events(req.request_id).count("operator_needed") == 2,
        timeout=10,
        what="a second hold",
    )
    stand_ins.policy_fails = False
    await act(handle, action(ActionKind.OPERATOR_RETRY, ADMIN))

    async def assigned() -> RequestView | None:
        current = await view(handle)
        return current if current.summary.state is State.ASSIGNED else None

    after = await eventually(assigned, timeout=10, what="admission after the retry")
    assert after.operator is None and after.summary.tier is Tier.COUNTY
    assert stand_ins.events(req.request_id).count("submitted") == 1


async def test_operator_resolve_rejects_a_request_that_cannot_be_admitted(
    ts_worker, stand_ins: StandIns
) -> None:
    req, handle, _ = await held_at_admission(ts_worker, stand_ins)
    text = "政策配置错误，已电话联系企业重新提交 / policy broken, enterprise asked to resubmit"
    result = await act(handle, action(ActionKind.OPERATOR_RESOLVE, ADMIN, text=text))
    assert result.state is State.REJECTED
    assert (await handle.result()).state is State.REJECTED
    assert stand_ins.events(req.request_id)[-2:] == ["operator_resolved", "rejected"]


async def test_record_the_database_refuses_blocks_the_outbox_until_resolved(
    ts_worker, stand_ins: StandIns
) -> None:
    env, queue = ts_worker
    poison = "a comment the database refuses"
    stand_ins.poison_text = poison
    req = make_request()
    handle = await submit(env, queue, req)
    cw = caseworker((await view(handle)).summary.institution_id)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    answered = await act(handle, action(ActionKind.COMMENT, cw, text=poison))  # answers anyway
    state = await held(handle)
    assert state.operator.step == "record_transitions"
    assert state.operator.event_ids == answered.event_ids  # the record at fault is named
    # operator_needed goes out alone, ahead of the record it waits behind
    assert stand_ins.events(req.request_id) == [
        "submitted",
        "assigned",
        "acknowledged",
        "operator_needed",
    ]
    assert await refused(handle, ActionKind.COMMENT, cw, text="more") == "NeedsOperator"

    await env.sleep(timedelta(days=7))  # the resolution clock breaches and escalates while held
    timeline = [e.event_type.value for e in (await view(handle)).timeline]
    assert "sla_breached" in timeline and "escalated" in timeline
    assert "sla_breached" not in stand_ins.events(req.request_id)  # still behind the block

    note = "已隐去无法保存的评论 / comment withheld, author told"
    await act(handle, action(ActionKind.OPERATOR_RESOLVE, ADMIN, text=note))
    events = stand_ins.events(req.request_id)
    assert events[3:5] == ["operator_needed", "commented"]
    assert events[-1] == "operator_resolved" and "escalated" in events
    comment = stand_ins.of_type(req.request_id, "commented")[0]
    assert comment.reason is None and "withheld" in comment.details
    assert not (await view(handle)).summary.needs_operator
    sequences = [r.sequence for r in stand_ins.persisted if r.request_id == req.request_id]
    assert sorted(sequences) == list(range(1, len(sequences) + 1))  # nothing lost
    await replay_and_maybe_record(handle, "operator-resolve-record")
