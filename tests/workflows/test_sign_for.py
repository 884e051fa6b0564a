"""签收 (sign-for) and what a missed deadline does, on the real time-skipping server.

The stand-in ``load_policy`` hands out the packaged policy file pinned for each request, so the
sign-for deadlines are the ones operators ship (15 minutes urgent, 30 high, a working day
otherwise) on the real business calendar, and every instant is checked exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from schemas.domain import Category, ClockKind, Priority, SlaStatus, State, Tier
from schemas.lifecycle import ActionKind, Institution, TransitionRecord
from schemas.policy import BreachAction, PinnedPolicy, SignForBreach
from schemas.request import RequestInput
from tests.utils.eventually import eventually
from tests.utils.factories import action, caseworker, dispatcher, make_request
from tests.workflows.harness import StandIns
from tests.workflows.test_lifecycle import act, sleep_until, submit, view
from tierflow.policy import load_policy_file
from workflows.business_time import add_business_seconds

MINUTE, HOUR = 60, 3600


def near(actual: datetime, expected: datetime) -> bool:
    """A timer fires at its instant, give or take the server's millisecond timer resolution."""
    return abs((actual - expected).total_seconds()) < 1


def pin(env_now: datetime, req: RequestInput, **rules: object) -> PinnedPolicy:
    """The packaged policy as ``load_policy`` pins it for ``req``, with ``rules`` changed."""
    pinned = load_policy_file().pin(req.category, req.priority, req.enterprise.grade, env_now)
    return pinned.model_copy(update=rules)


async def pinned_submit(
    env: WorkflowEnvironment, queue: str, stand_ins: StandIns, req: RequestInput, **rules: object
) -> tuple[WorkflowHandle, PinnedPolicy]:
    stand_ins.policy = pin(await env.get_current_time(), req, **rules)
    handle = await submit(env, queue, req)
    # the view answers before the outbox has drained: wait for the record too
    await eventually(lambda: records(stand_ins, req, "assigned"), what="the assigned record")
    return handle, stand_ins.policy


class Dispatched(NamedTuple):
    """A request submitted on its pinned policy and dispatched: what a test acts on next."""

    req: RequestInput
    env: WorkflowEnvironment
    handle: WorkflowHandle
    policy: PinnedPolicy
    holder: str  # the institution it was dispatched to


async def dispatch(
    ts_worker: tuple[WorkflowEnvironment, str],
    stand_ins: StandIns,
    req: RequestInput | None = None,
    **rules: object,
) -> Dispatched:
    """``pinned_submit`` on the test's worker (a new request by default), and find its holder."""
    env, queue = ts_worker
    req = make_request() if req is None else req
    handle, policy = await pinned_submit(env, queue, stand_ins, req, **rules)
    return Dispatched(req, env, handle, policy, (await view(handle)).summary.institution_id or "")


def records(stand_ins: StandIns, req: RequestInput, *types: str) -> list[TransitionRecord]:
    return [
        r for r in stand_ins.persisted if r.request_id == req.request_id and r.event_type in types
    ]


async def recorded(stand_ins: StandIns, req: RequestInput, *types: str) -> None:
    """Wait until a record of each type is persisted (a timer's records follow its firing)."""
    await eventually(
        lambda: all(records(stand_ins, req, t) for t in types), what=f"records {types}"
    )


@pytest.fixture
def talent_request(priority: Priority) -> RequestInput:
    """A talent request of the test's ``priority``, which its sign-for clock goes by."""
    return make_request(priority=priority, category=Category.TALENT)


@pytest.mark.parametrize(
    ("priority", "seconds"),
    [(Priority.URGENT, 15 * MINUTE), (Priority.HIGH, 30 * MINUTE), (Priority.NORMAL, 7 * HOUR)],
)
async def test_signed_for_within_its_urgency_clock(
    ts_worker, stand_ins, talent_request: RequestInput, seconds: int
) -> None:
    req, env, handle, policy, _ = await dispatch(ts_worker, stand_ins, talent_request)
    assert policy.sign_for_seconds == seconds
    (assigned,) = records(stand_ins, req, "assigned")
    due = add_business_seconds(assigned.occurred_at, seconds, policy.calendar)
    before = await view(handle)
    assert before.summary.sign_for_due_at == due and before.summary.signed_for_at is None
    assert ActionKind.SIGN_FOR in before.allowed_actions

    just_before = add_business_seconds(assigned.occurred_at, seconds - 60, policy.calendar)
    await sleep_until(env, just_before)
    cw = caseworker(before.summary.institution_id or "")
    signed = await act(handle, action(ActionKind.SIGN_FOR, cw))
    assert signed.state is State.ASSIGNED  # signed for, not yet answered

    (record,) = records(stand_ins, req, "signed_for")
    assert record.actor.id == cw.id
    assert seconds - 60 <= record.details["sign_for_business_seconds"] < seconds
    after = await view(handle)
    assert after.summary.signed_for_at == record.occurred_at
    assert after.summary.sign_for_due_at is None
    assert ActionKind.SIGN_FOR not in after.allowed_actions
    assert not records(stand_ins, req, "sla_breached", "reminded")
    (sign_for_clock,) = [c for c in after.clocks if c.kind is ClockKind.SIGN_FOR]
    assert sign_for_clock.status is SlaStatus.STOPPED and not sign_for_clock.breached

    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await act(handle, action(ActionKind.SIGN_FOR, cw))
    assert "cannot sign for: county-330106 signed for it at" in str(twice.value.cause)


@pytest.mark.parametrize(
    ("priority", "seconds"),
    [
        (Priority.URGENT, 15 * MINUTE),
        (Priority.HIGH, 30 * MINUTE),
        (Priority.NORMAL, 7 * HOUR),
        (Priority.LOW, 7 * HOUR),
    ],
)
async def test_a_missed_sign_for_warns_then_reminds_the_unit(
    ts_worker, stand_ins, talent_request: RequestInput, seconds: int
) -> None:
    req, env, handle, policy, _ = await dispatch(ts_worker, stand_ins, talent_request)
    (assigned,) = records(stand_ins, req, "assigned")
    at = assigned.occurred_at
    due = add_business_seconds(at, seconds, policy.calendar)
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "sla_warning", "sla_breached", "reminded")

    warnings = [
        r for r in records(stand_ins, req, "sla_warning") if r.details["clock"] == "sign_for"
    ]
    expected = [add_business_seconds(at, round(seconds * t), policy.calendar) for t in (0.5, 0.8)]
    assert len(warnings) == 2
    assert all(near(w.occurred_at, e) for w, e in zip(warnings, expected, strict=True))
    (breach,) = records(stand_ins, req, "sla_breached")
    (reminder,) = records(stand_ins, req, "reminded")
    assert breach.details["clock"] == reminder.details["clock"] == "sign_for"
    assert near(breach.occurred_at, due) and reminder.occurred_at == breach.occurred_at
    state = await view(handle)
    assert state.summary.tier is Tier.COUNTY and state.summary.state is State.ASSIGNED
    assert state.holds[-1].sign_for_breached and not state.holds[-1].response_breached

    # signing for late is still recorded, with the business time it took
    late = await act(handle, action(ActionKind.SIGN_FOR, caseworker(assigned.institution_id or "")))
    assert late.state is State.ASSIGNED
    (record,) = records(stand_ins, req, "signed_for")
    assert record.details["sign_for_business_seconds"] > seconds


async def test_a_missed_sign_for_redispatches_up_a_tier_when_the_policy_says_so(
    ts_worker, stand_ins
) -> None:
    env, queue = ts_worker
    req = make_request(priority=Priority.URGENT)
    handle, policy = await pinned_submit(
        env, queue, stand_ins, req, sign_for_breach=SignForBreach.ESCALATE
    )
    (assigned,) = records(stand_ins, req, "assigned")
    due = add_business_seconds(assigned.occurred_at, 15 * MINUTE, policy.calendar)
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "escalated")

    (up,) = records(stand_ins, req, "escalated")
    assert near(up.occurred_at, due) and (up.from_tier, up.to_tier) == (Tier.COUNTY, Tier.MUNICIPAL)
    assert up.details["clock"] == "sign_for" and up.details["cause"] == "sla_breach"
    assert not records(stand_ins, req, "reminded")
    state = await view(handle)
    # the municipal unit signs for it on a fresh clock
    assert state.summary.sign_for_due_at == add_business_seconds(
        up.occurred_at, 15 * MINUTE, policy.calendar
    )
    assert state.summary.signed_for_at is None


async def test_acknowledging_signs_for_the_request_first(ts_worker, stand_ins) -> None:
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    cw = caseworker(county)
    answer = await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    assert answer.state is State.ACKNOWLEDGED
    assert [r.event_type.value for r in stand_ins.persisted] == [
        "submitted",
        "assigned",
        "signed_for",
        "acknowledged",
    ]
    assert answer.event_ids == [f"{req.request_id}:3", f"{req.request_id}:4"]
    (signed,) = records(stand_ins, req, "signed_for")
    # one audit record per action id: the sign-for rides along with the acknowledgement
    assert signed.action_id is None and signed.details["along_with"] == "acknowledge"
    assert signed.actor.id == cw.id


async def test_the_response_clock_can_start_at_sign_for(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle, policy = await pinned_submit(env, queue, stand_ins, req, response_from_sign_for=True)
    state = await view(handle)
    assert {c.kind for c in state.clocks} == {ClockKind.RESOLUTION, ClockKind.SIGN_FOR}
    assert state.summary.response_due_at is None

    (assigned,) = records(stand_ins, req, "assigned")
    await sleep_until(env, add_business_seconds(assigned.occurred_at, 2 * HOUR, policy.calendar))
    await act(handle, action(ActionKind.SIGN_FOR, caseworker(state.summary.institution_id or "")))
    (signed,) = records(stand_ins, req, "signed_for")
    response = policy.targets[Tier.COUNTY].response_seconds
    after = await view(handle)
    assert after.summary.response_due_at == add_business_seconds(
        signed.occurred_at, response, policy.calendar
    )
    # the resolution clock kept running from dispatch
    assert after.summary.resolution_due_at == state.summary.resolution_due_at


async def test_a_reassigned_request_waits_for_its_new_holder(ts_worker, stand_ins) -> None:
    req, _, handle, policy, county = await dispatch(ts_worker, stand_ins)
    await act(handle, action(ActionKind.SIGN_FOR, caseworker(county)))
    other = Institution(
        id="county-other", name="区中小企业服务中心二部", tier=Tier.COUNTY, division_code="330106"
    )
    stand_ins.extra_institutions.append(other)
    boss = dispatcher(Tier.COUNTY, req.enterprise.division_code)
    moved = await act(
        handle, action(ActionKind.REASSIGN, boss, institution_id=other.id, text="Their desk")
    )
    (reassigned,) = records(stand_ins, req, "reassigned")
    state = await view(handle)
    assert moved.institution_id == other.id and state.summary.signed_for_at is None
    assert state.summary.sign_for_due_at == add_business_seconds(
        reassigned.occurred_at, policy.sign_for_seconds or 0, policy.calendar
    )
    with pytest.raises(WorkflowUpdateFailedError) as not_theirs:
        await act(handle, action(ActionKind.SIGN_FOR, caseworker(county)))
    assert "the request is held by county-other" in str(not_theirs.value.cause)
    await act(handle, action(ActionKind.SIGN_FOR, caseworker(other.id)))
    assert len(records(stand_ins, req, "signed_for")) == 2


@pytest.mark.parametrize("mode", [BreachAction.ESCALATE, BreachAction.SUPERVISE_IN_PLACE])
async def test_a_response_breach_follows_the_policy(ts_worker, stand_ins, mode) -> None:
    req, env, handle, policy, county = await dispatch(ts_worker, stand_ins, breach_action=mode)
    await act(handle, action(ActionKind.SIGN_FOR, caseworker(county)))
    (assigned,) = records(stand_ins, req, "assigned")
    response = policy.targets[Tier.COUNTY].response_seconds
    due = add_business_seconds(assigned.occurred_at, response, policy.calendar)
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    follow = "escalated" if mode is BreachAction.ESCALATE else "supervisor_alert"
    await recorded(stand_ins, req, "sla_breached", follow)

    (breach,) = [
        r for r in records(stand_ins, req, "sla_breached") if r.details["clock"] == "response"
    ]
    assert near(breach.occurred_at, due)
    state = await view(handle)
    if mode is BreachAction.ESCALATE:
        (up,) = records(stand_ins, req, "escalated")
        assert near(up.occurred_at, due) and state.summary.tier is Tier.MUNICIPAL
        assert not records(stand_ins, req, "supervisor_alert")
    else:
        (alert,) = records(stand_ins, req, "supervisor_alert")
        assert near(alert.occurred_at, due) and alert.details["mode"] == "supervise_in_place"
        assert alert.details["clock"] == "response"
        assert not records(stand_ins, req, "escalated")
        assert (state.summary.tier, state.summary.institution_id) == (Tier.COUNTY, county)
        # the unit goes on handling it
        done = await act(handle, action(ActionKind.ACKNOWLEDGE, caseworker(county)))
        assert done.state is State.ACKNOWLEDGED


async def test_a_request_pinned_before_sign_for_can_still_be_signed_for_and_concluded(
    ts_worker, stand_ins
) -> None:
    """Policies pinned before sign-for run no sign-for clock; signing for is recorded."""
    env, queue = ts_worker
    req = make_request()
    handle, _ = await pinned_submit(env, queue, stand_ins, req, sign_for_seconds=None)
    state = await view(handle)
    assert {c.kind for c in state.clocks} == {ClockKind.RESPONSE, ClockKind.RESOLUTION}
    cw = caseworker(state.summary.institution_id or "")
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))  # no implicit sign-for
    assert not records(stand_ins, req, "signed_for")
    # an older request in the assigned state can still be signed for explicitly
    other = make_request()
    other_handle, _ = await pinned_submit(env, queue, stand_ins, other, sign_for_seconds=None)
    await act(other_handle, action(ActionKind.SIGN_FOR, cw))
    (signed,) = records(stand_ins, other, "signed_for")
    assert signed.details["sign_for_business_seconds"] is None
    await act(other_handle, action(ActionKind.ACKNOWLEDGE, cw))
    resolved = await act(other_handle, action(ActionKind.RESOLVE, cw, text="办结"))
    assert resolved.state is State.RESOLVED
