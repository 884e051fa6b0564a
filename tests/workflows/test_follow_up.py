"""回访: the follow-up desk calls the enterprise after a resolution (real time-skipping server).

Satisfied closes the request, unsatisfied reopens it at the unit as a redo (重办, counted),
unreachable closes it after the policy's attempts; a bad rating keeps the request open until
it is followed up.
"""

from __future__ import annotations

from datetime import timedelta

from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind, Awaiting, FollowUpOutcome
from schemas.request import Actor
from tests.utils.factories import (
    ENTERPRISE,
    action,
    caseworker,
    follow_up_desk,
    make_request,
    supervisor,
)
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_operator import replay_and_maybe_record
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import pinned_submit, records
from workflows import views
from workflows.business_time import add_business_seconds, business_day_seconds

DESK = Actor(
    id="desk-330100",
    role=Role.FOLLOW_UP,
    institution_id="zj-330100-sme",
    tier=Tier.MUNICIPAL,
    division_code="330100",
)


async def _resolved(env, queue, stand_ins, **rules: object):
    """A request concluded by its county unit, on the packaged policy with ``rules`` changed."""
    req = make_request()
    handle, policy = await pinned_submit(env, queue, stand_ins, req, **rules)
    cw = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.RESOLVE, cw, text="已对接银行授信"))
    return req, handle, policy, cw


def call(outcome: FollowUpOutcome, text: str | None = None):
    return action(ActionKind.FOLLOW_UP, DESK, outcome=outcome, text=text)


async def test_a_satisfied_follow_up_closes_the_request(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    (resolved,) = records(stand_ins, req, "resolved")
    due = (await view(handle)).follow_up_due_at
    cal = policy.calendar
    assert due == add_business_seconds(resolved.occurred_at, business_day_seconds(cal), cal)
    assert "role caseworker may not follow_up" in await refused(
        handle, call(FollowUpOutcome.SATISFIED).model_copy(update={"actor": cw})
    )
    answer = await act(handle, call(FollowUpOutcome.SATISFIED))
    assert answer.state is State.CLOSED
    (closed,) = records(stand_ins, req, "closed")
    assert closed.details["cause"] == "satisfied" and closed.actor.id == DESK.id
    # the enterprise may still rate in the rating window after the close
    assert (await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=5))).state is State.CLOSED


async def test_unsatisfied_is_a_redo_at_the_unit(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    answer = await act(handle, call(FollowUpOutcome.UNSATISFIED, "授信额度未落实"))
    assert answer.state is State.IN_PROGRESS
    (reopened,) = records(stand_ins, req, "reopened")
    assert reopened.details == {"cause": "follow_up", "redo": 1}
    state = await view(handle)
    assert state.redo_count == 1 and state.follow_up_due_at is None
    assert state.summary.resolution_due_at is not None  # a fresh resolution clock
    # resolved again: a new follow-up falls due
    await act(handle, action(ActionKind.RESOLVE, cw, text="额度已落实"))
    assert (await view(handle)).follow_up_due_at is not None


async def _called_later(env, handle, policy) -> None:
    """Wait the working hours unreachable calls are spaced by (the packaged 2)."""
    assert policy.follow_up_spacing_hours == 2
    now = await env.get_current_time()
    await sleep_until(env, add_business_seconds(now, 2 * 3600, policy.calendar))


async def test_unreachable_three_times_closes_it(ts_worker, stand_ins) -> None:
    """Three unreachable calls close the request, made at different times: a call right
    after one nobody answered is refused, naming when the next may be made."""
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    answer = await act(handle, call(FollowUpOutcome.UNREACHABLE))
    assert answer.state is State.RESOLVED
    why = await refused(handle, call(FollowUpOutcome.UNREACHABLE))
    assert "cannot record another unreachable call before" in why and "2 working hours" in why
    for expected in (State.RESOLVED, State.CLOSED):
        await _called_later(env, handle, policy)
        answer = await act(handle, call(FollowUpOutcome.UNREACHABLE))
        assert answer.state is expected
    attempts = [r.details["attempt"] for r in records(stand_ins, req, "followed_up")]
    assert attempts == [1, 2, 3]
    (closed,) = records(stand_ins, req, "closed")
    assert closed.details["cause"] == "unreachable"


async def test_a_bad_rating_waits_for_its_follow_up(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=2))
    close_due = (await view(handle)).close_due_at
    assert close_due is not None
    await sleep_until(env, add_business_seconds(close_due, 3600, policy.calendar))
    assert (await view(handle)).summary.state is State.RESOLVED  # not closed by itself
    assert not records(stand_ins, req, "closed")
    answer = await act(handle, call(FollowUpOutcome.SATISFIED, "企业表示已解决"))
    assert answer.state is State.CLOSED


async def test_a_policy_closing_the_loop_keeps_the_request_open_for_its_follow_up(
    ts_worker, stand_ins
) -> None:
    """办结 → 回访 → 评价: under ``close_waits_for_follow_up`` the reopen window's end does not
    close a request nobody has called; it stays on the desk's 待回访 list until the call (here:
    three unreachable ones) settles it. Without it (the packaged default) it closes then."""
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins, close_waits_for_follow_up=True)
    close_due = (await view(handle)).close_due_at
    assert close_due is not None
    await sleep_until(env, add_business_seconds(close_due, 3600, policy.calendar))
    state = await view(handle)
    assert state.summary.state is State.RESOLVED and not records(stand_ins, req, "closed")
    assert Awaiting.FOLLOW_UP in state.summary.awaiting  # still the desk's to call
    for attempt in range(3):
        if attempt:
            await _called_later(env, handle, policy)
        answer = await act(handle, call(FollowUpOutcome.UNREACHABLE))
    assert answer.state is State.CLOSED

    plain, plain_handle, plain_policy, _ = await _resolved(env, queue, stand_ins)
    assert not plain_policy.close_waits_for_follow_up
    plain_due = (await view(plain_handle)).close_due_at
    assert plain_due is not None
    await sleep_until(env, add_business_seconds(plain_due, 3600, plain_policy.calendar))
    assert (await view(plain_handle)).summary.state is State.CLOSED


async def test_requests_pinned_before_take_unreachable_calls_at_once(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins, follow_up_spacing_hours=None)
    for _ in range(3):
        answer = await act(handle, call(FollowUpOutcome.UNREACHABLE))
    assert answer.state is State.CLOSED


async def test_a_supervisor_above_sending_a_conclusion_back_is_a_redo(ts_worker, stand_ins) -> None:
    """重办 a supervisor above orders (办结质量不合格) counts as the follow-up's does; the unit
    reopening its own conclusion is a correction, not a redo."""
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    await act(handle, action(ActionKind.REOPEN, cw, text="补充办理结果"))
    await act(handle, action(ActionKind.RESOLVE, cw, text="已补充"))
    city = Actor(id="sup-330100", role=Role.SUPERVISOR, tier=Tier.MUNICIPAL, division_code="330100")
    back = await act(handle, action(ActionKind.REOPEN, city, text="办结质量不合格，重办"))
    assert back.state is State.IN_PROGRESS
    own, ordered = records(stand_ins, req, "reopened")
    assert own.details == {}
    assert ordered.details == {"cause": "supervisor", "redo": 1}
    assert (await view(handle)).redo_count == 1


async def _rated_badly_after_the_close(ts_worker, stand_ins, **rules: object):
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins, **rules)
    closed = await act(handle, call(FollowUpOutcome.SATISFIED))
    assert closed.state is State.CLOSED  # the rating window is open
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=1, text="问题并未解决"))
    return req, handle


async def test_a_bad_rating_after_the_close_is_called_back(ts_worker, stand_ins) -> None:
    """差评回访: a bad rating given in the rating window after the close waits for the desk's
    call back (待回访), which it records on the closed request; the request stays closed."""
    req, handle = await _rated_badly_after_the_close(ts_worker, stand_ins)
    state = await view(handle)
    assert Awaiting.FOLLOW_UP in state.summary.awaiting and state.follow_up_due_at is not None
    (rated,) = records(stand_ins, req, "rated")
    assert rated.details["follow_up_due_at"] == state.follow_up_due_at.isoformat()
    answer = await act(handle, call(FollowUpOutcome.UNSATISFIED, "企业仍不满意，已转整改"))
    assert answer.state is State.CLOSED
    (_, back) = records(stand_ins, req, "followed_up")
    assert back.details == {"outcome": "unsatisfied", "attempt": 1, "call_back": True}
    assert Awaiting.FOLLOW_UP not in (await view(handle)).summary.awaiting
    assert "followed up already" in await refused(handle, call(FollowUpOutcome.SATISFIED))
    await replay_and_maybe_record(handle, "call-back-after-close")


async def test_requests_pinned_before_take_no_call_back_after_the_close(
    ts_worker, stand_ins
) -> None:
    req, handle = await _rated_badly_after_the_close(
        ts_worker, stand_ins, bad_rating_callback_after_close=False
    )
    assert Awaiting.FOLLOW_UP not in (await view(handle)).summary.awaiting
    assert "cannot follow up" in await refused(handle, call(FollowUpOutcome.SATISFIED))


async def test_a_request_closed_uncalled_takes_no_follow_up_afterwards(
    ts_worker, stand_ins
) -> None:
    """Nobody called before the reopen window ended: the request closed, and the desk cannot
    record a follow-up on it then (it would move a closed request back); only a bad rating's
    call back is taken after the close."""
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    due = (await view(handle)).close_due_at
    assert due is not None
    await sleep_until(env, due + timedelta(minutes=1))
    assert (await view(handle)).summary.state is State.CLOSED
    assert "no bad rating waits for a call back" in await refused(
        handle, call(FollowUpOutcome.SATISFIED)
    )


async def test_a_late_unreachable_call_moves_the_next_call_due(ts_worker, stand_ins) -> None:
    """A call nobody answered, made after the follow-up fell due: the next may be made two
    working hours later, and falls due then (the desk's list no longer shows it late while
    the call would be refused)."""
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    due = (await view(handle)).follow_up_due_at
    assert due is not None
    await sleep_until(env, due + timedelta(hours=1))
    await act(handle, call(FollowUpOutcome.UNREACHABLE))
    (unanswered,) = records(stand_ins, req, "followed_up")
    next_call = add_business_seconds(unanswered.occurred_at, 2 * 3600, policy.calendar)
    state = await view(handle)
    assert state.follow_up_due_at is not None
    assert abs(state.follow_up_due_at - next_call) < timedelta(seconds=1)
    assert unanswered.summary.follow_up_due_at == state.follow_up_due_at


async def test_a_desk_does_not_follow_up_its_own_units_conclusion(ts_worker, stand_ins) -> None:
    """A request pulled up to the city and concluded there: the city's own follow-up desk (of
    the institution that concluded it) is refused its 回访 and not offered it, the call being
    the tier above's check on the unit; the province's desk records it."""
    env, queue = ts_worker
    handle, policy = await pinned_submit(env, queue, stand_ins, make_request())
    city_boss = supervisor(Tier.MUNICIPAL, "330106")
    pulled = await act(handle, action(ActionKind.ESCALATE, city_boss, text="市级统筹"))
    city = pulled.institution_id or ""
    worker = caseworker(city)
    await act(handle, action(ActionKind.ACKNOWLEDGE, worker))
    await act(handle, action(ActionKind.RESOLVE, worker, text="已对接银行授信"))
    own = follow_up_desk(Tier.MUNICIPAL, "330100", institution_id=city)
    province = follow_up_desk(Tier.PROVINCIAL, "330000", institution_id="zj-330000-sme")
    concluded = await view(handle)
    assert ActionKind.FOLLOW_UP not in views.offered_to(concluded, own)
    assert ActionKind.FOLLOW_UP in views.offered_to(concluded, province)
    assert "its own unit" in await refused(
        handle, action(ActionKind.FOLLOW_UP, own, outcome=FollowUpOutcome.SATISFIED)
    )
    assert ActionKind.RATE not in views.offered_to(concluded, own)  # nor records its rating
    assert "its own unit" in await refused(
        handle, action(ActionKind.RATE, own, rating=5, text="电话回访时企业表示满意")
    )
    closed = await act(
        handle, action(ActionKind.FOLLOW_UP, province, outcome=FollowUpOutcome.SATISFIED)
    )
    assert closed.state is State.CLOSED
    await replay_and_maybe_record(handle, "follow-up-not-of-own-unit")
