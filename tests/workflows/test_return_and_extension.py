"""退单 (return) and 延期 (extension) on the real time-skipping server, under the packaged policy.

A unit returns a request it believes is not its business, within two working days; a
supervisor of a tier above re-routes it (fresh clocks, the time charged to routing) or sends
it back (clocks as if it was never returned). A unit asks for more working days before its
resolution deadline; a supervisor of a tier above approves (the deadline moves) or refuses;
the policy caps the days and the number of extensions.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from schemas.domain import ClockKind, Tier
from schemas.lifecycle import ActionKind, Awaiting, Institution, ReturnReason, SuspendReason
from schemas.policy import BreachAction
from tests.utils.factories import action, caseworker, make_request, supervisor
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_operator import replay_and_maybe_record
from tests.workflows.test_sign_for import (
    Dispatched,
    dispatch,
    near,
    pinned_submit,
    recorded,
    records,
)
from workflows.business_time import add_business_seconds, business_day_seconds
from workflows.views import offered_to

DIVISION = "330106"
CITY = supervisor(Tier.MUNICIPAL, DIVISION)
OTHER_COUNTY = Institution(
    id="county-other", name="区科技服务中心", tier=Tier.COUNTY, division_code=DIVISION
)


async def refused(handle, request) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await act(handle, request)
    return str(caught.value.cause)


def returning(cw, text="企业注册地不在本区", reason=ReturnReason.OUTSIDE_REGION):
    return action(ActionKind.RETURN, cw, text=text, return_reason=reason)


async def dispatch_in_division(ts_worker, stand_ins) -> Dispatched:
    """A request of an enterprise in DIVISION, dispatched to its county unit."""
    return await dispatch(ts_worker, stand_ins, make_request(division_code=DIVISION))


async def acknowledged(ts_worker, stand_ins) -> Dispatched:
    """A request of DIVISION, dispatched and acknowledged (the response clock kept quiet)."""
    dispatched = await dispatch_in_division(ts_worker, stand_ins)
    await act(dispatched.handle, action(ActionKind.ACKNOWLEDGE, caseworker(dispatched.holder)))
    return dispatched


async def test_an_approved_return_reroutes_with_fresh_clocks(ts_worker, stand_ins) -> None:
    stand_ins.extra_institutions.append(OTHER_COUNTY)
    req, env, handle, policy, county = await dispatch_in_division(ts_worker, stand_ins)
    cw = caseworker(county)
    await act(handle, action(ActionKind.SIGN_FOR, cw))
    (assigned,) = records(stand_ins, req, "assigned")
    await sleep_until(env, add_business_seconds(assigned.occurred_at, 3600, policy.calendar))
    await act(handle, returning(cw))
    (asked,) = records(stand_ins, req, "return_requested")
    assert asked.details["return_reason"] == "outside_region"
    pending = await view(handle)
    assert ActionKind.RETURN not in pending.allowed_actions  # one open return at a time
    assert "a return is already waiting" in await refused(handle, returning(cw))

    # a county supervisor is not the dispatcher of the county tier
    county_boss = supervisor(Tier.COUNTY, DIVISION)
    approve = action(
        ActionKind.APPROVE_RETURN, county_boss, institution_id=OTHER_COUNTY.id, text="转科技中心"
    )
    assert "the dispatch desk of a tier above does" in await refused(handle, approve)
    ghost = action(ActionKind.APPROVE_RETURN, CITY, institution_id="county-ghost")
    assert "not in the directory" in await refused(handle, ghost)
    # 改派 meanwhile would let the return lapse, its approval's accounting lost: decide it
    assert ActionKind.REASSIGN not in offered_to(pending, CITY)
    assert ActionKind.APPROVE_RETURN in offered_to(pending, CITY)
    reassign = action(ActionKind.REASSIGN, CITY, institution_id=OTHER_COUNTY.id, text="改派")
    assert "approve it naming the unit" in await refused(handle, reassign)

    moved = await act(
        handle, action(ActionKind.APPROVE_RETURN, CITY, institution_id=OTHER_COUNTY.id)
    )
    assert (moved.tier, moved.institution_id) == (Tier.COUNTY, OTHER_COUNTY.id)
    (approved,) = records(stand_ins, req, "return_approved")
    assert approved.details["returned_by"] == county and approved.actor.id == CITY.id
    state = await view(handle)
    returned_hold, new_hold = state.holds[-2:]
    assert returned_hold.returned and returned_hold.left_by == "return_approved"
    assert new_hold.institution_id == OTHER_COUNTY.id and not new_hold.returned
    # clocks restart at the new holder, which signs for it anew
    at = approved.occurred_at
    response = policy.targets[Tier.COUNTY].response_seconds
    assert state.summary.response_due_at == add_business_seconds(at, response, policy.calendar)
    assert state.summary.signed_for_at is None
    (app,) = state.applications
    assert (app.approved, app.decided_by, app.asked_by) == (True, CITY.id, cw.id)


async def test_a_refused_return_leaves_the_clocks_as_if_never_returned(
    ts_worker, stand_ins
) -> None:
    req, _, handle, _, county = await dispatch_in_division(ts_worker, stand_ins)
    cw = caseworker(county)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    before = await view(handle)
    await act(handle, returning(cw, reason=ReturnReason.NOT_OUR_REMIT))
    # while the return waits, the unit does not take the request where it cannot be decided
    for kind, fields in (
        (ActionKind.REQUEST_INFO, {}),
        (ActionKind.SUSPEND, {"days": 3, "suspend_reason": "third_party"}),
    ):
        ask = action(kind, cw, text="请补充营业执照", **fields)
        assert "return (退单) waits for a decision" in await refused(handle, ask)
    no_text = action(ActionKind.REFUSE_RETURN, CITY, text="本单位职责范围内，请继续办理")
    await act(handle, no_text)
    (refusal,) = records(stand_ins, req, "return_refused")
    assert refusal.details["asked_by"] == cw.id
    after = await view(handle)
    assert after.summary.institution_id == before.summary.institution_id
    assert after.summary.response_due_at == before.summary.response_due_at
    assert after.summary.resolution_due_at == before.summary.resolution_due_at
    assert after.applications[-1].approved is False
    # nothing waits now: a decision without a return is refused
    assert "no return is waiting" in await refused(
        handle, action(ActionKind.APPROVE_RETURN, CITY, institution_id="county-other")
    )


async def test_a_return_after_two_working_days_is_refused(ts_worker, stand_ins) -> None:
    req, env, handle, policy, county = await acknowledged(ts_worker, stand_ins)
    cw = caseworker(county)
    (assigned,) = records(stand_ins, req, "assigned")
    window = policy.return_window_seconds or 0
    assert window == 2 * business_day_seconds(policy.calendar)
    end = add_business_seconds(assigned.occurred_at, window, policy.calendar)
    assert ActionKind.RETURN in (await view(handle)).allowed_actions
    await sleep_until(env, add_business_seconds(end, 60, policy.calendar))
    assert f"the return window ended at {end.isoformat()}" in await refused(handle, returning(cw))
    # and the case page no longer offers it (the view as of the workflow's last step)
    assert ActionKind.RETURN not in (await view(handle)).allowed_actions


async def test_an_approved_extension_moves_the_resolution_deadline(ts_worker, stand_ins) -> None:
    req, _, handle, policy, county = await acknowledged(ts_worker, stand_ins)
    cw = caseworker(county)
    before = (await view(handle)).summary.resolution_due_at
    assert before is not None
    # the city's supervisor decides; asking for the unit, it would approve its own request
    for_the_unit = action(ActionKind.REQUEST_EXTENSION, CITY, text="代为申请", days=3)
    assert f"supervisor {CITY.id} may not request_extension for {county}" in await refused(
        handle, for_the_unit
    )
    ask = action(ActionKind.REQUEST_EXTENSION, cw, text="需等待银行授信审批", days=3)
    await act(handle, ask)
    assert "role caseworker may not approve_extension" in await refused(
        handle, action(ActionKind.APPROVE_EXTENSION, cw)
    )
    await act(handle, action(ActionKind.APPROVE_EXTENSION, CITY, text="同意延期3个工作日"))
    (approved,) = records(stand_ins, req, "extension_approved")
    day = business_day_seconds(policy.calendar)
    state = await view(handle)
    after = state.summary.resolution_due_at
    assert after == add_business_seconds(before, 3 * day, policy.calendar)
    assert (
        approved.details["days"] == 3 and approved.details["resolution_due_at"] == after.isoformat()
    )
    (clock,) = [c for c in state.clocks if c.kind is ClockKind.RESOLUTION]
    assert clock.extended_seconds == 3 * day
    assert state.applications[-1].decided_by == CITY.id

    # a refused one changes nothing
    await act(handle, action(ActionKind.REQUEST_EXTENSION, cw, text="再延", days=2))
    await act(handle, action(ActionKind.REFUSE_EXTENSION, CITY, text="理由不充分"))
    assert (await view(handle)).summary.resolution_due_at == after
    assert len(records(stand_ins, req, "extension_refused")) == 1


async def test_extensions_past_the_cap_are_refused(ts_worker, stand_ins) -> None:
    _, _, handle, _, county = await acknowledged(ts_worker, stand_ins)
    cw = caseworker(county)
    await act(handle, action(ActionKind.REQUEST_EXTENSION, cw, text="一", days=8))
    await act(handle, action(ActionKind.APPROVE_EXTENSION, CITY))
    too_long = action(ActionKind.REQUEST_EXTENSION, cw, text="二", days=3)
    assert "8 already approved, the policy allows 10 in all" in await refused(handle, too_long)
    await act(handle, action(ActionKind.REQUEST_EXTENSION, cw, text="二", days=2))
    await act(handle, action(ActionKind.APPROVE_EXTENSION, CITY))
    third = action(ActionKind.REQUEST_EXTENSION, cw, text="三", days=1)
    assert "2 already approved, the policy allows 2" in await refused(handle, third)
    assert ActionKind.REQUEST_EXTENSION not in (await view(handle)).allowed_actions


@pytest.mark.parametrize("per_stay", [True, False])
async def test_the_caps_count_the_holding_units_extensions(ts_worker, stand_ins, per_stay) -> None:
    """The county used both extensions, then escalated: the city unit's fresh resolution clock
    may be extended too (``extensions_per_stay``); requests pinned before keep one budget."""
    req = make_request(division_code=DIVISION)
    d = await dispatch(ts_worker, stand_ins, req, extensions_per_stay=per_stay)
    cw = caseworker(d.holder)
    await act(d.handle, action(ActionKind.ACKNOWLEDGE, cw))
    for text in ("一", "二"):
        await act(d.handle, action(ActionKind.REQUEST_EXTENSION, cw, text=text, days=5))
        await act(d.handle, action(ActionKind.APPROVE_EXTENSION, CITY))
    up = await act(d.handle, action(ActionKind.ESCALATE, cw, text="需市级协调"))
    city_worker = caseworker(up.institution_id or "")
    await act(d.handle, action(ActionKind.ACKNOWLEDGE, city_worker))
    asked = action(ActionKind.REQUEST_EXTENSION, city_worker, text="市级也需时间", days=3)
    offered = ActionKind.REQUEST_EXTENSION in (await view(d.handle)).allowed_actions
    if not per_stay:
        assert not offered
        assert "2 already approved, the policy allows 2" in await refused(d.handle, asked)
        return
    assert offered
    await act(d.handle, asked)
    province = supervisor(Tier.PROVINCIAL, "330000")
    await act(d.handle, action(ActionKind.APPROVE_EXTENSION, province))
    (clock,) = [
        c
        for c in (await view(d.handle)).clocks
        if c.tier is Tier.MUNICIPAL and c.kind.value == "resolution"
    ]
    assert clock.extended_seconds == 3 * business_day_seconds(d.policy.calendar)


async def test_an_extension_is_asked_for_before_the_deadline(ts_worker, stand_ins) -> None:
    req, env, handle, policy, county = await acknowledged(ts_worker, stand_ins)
    cw = caseworker(county)
    due = (await view(handle)).summary.resolution_due_at
    assert due is not None
    await act(handle, action(ActionKind.REQUEST_EXTENSION, cw, text="等待", days=2))
    # nobody decides in time: the deadline passes and the request escalates
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "escalated")
    up = records(stand_ins, req, "escalated")
    assert up and near(up[0].occurred_at, due)
    state = await view(handle)
    assert state.summary.tier is Tier.MUNICIPAL
    lapsed = state.applications[-1]
    assert lapsed.approved is None and lapsed.decided_at is not None  # lapsed undecided
    assert "moved on" in (lapsed.decision_text or "")
    late = action(ActionKind.APPROVE_EXTENSION, supervisor(Tier.PROVINCIAL, DIVISION))
    assert "no extension is waiting" in await refused(handle, late)


async def test_a_whole_work_order_replays(ts_worker, stand_ins) -> None:
    """Every work-order step in one run, replayed with today's code (and kept as a history)."""
    stand_ins.extra_institutions.append(OTHER_COUNTY)
    req, env, handle, policy, county = await dispatch_in_division(ts_worker, stand_ins)
    first = caseworker(county)
    await act(handle, action(ActionKind.SIGN_FOR, first))
    await act(handle, returning(first))
    await act(handle, action(ActionKind.APPROVE_RETURN, CITY, institution_id=OTHER_COUNTY.id))
    cw = caseworker(OTHER_COUNTY.id)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.REQUEST_EXTENSION, cw, text="等待", days=2))
    await act(handle, action(ActionKind.APPROVE_EXTENSION, CITY))
    await act(
        handle,
        action(
            ActionKind.SUSPEND,
            cw,
            text="等待鉴定",
            suspend_reason=SuspendReason.LEGAL_PROCEDURE,
            days=1,
        ),
    )
    await act(handle, action(ActionKind.APPROVE_SUSPENSION, CITY))
    day = business_day_seconds(policy.calendar)
    await sleep_until(
        env, add_business_seconds(await env.get_current_time(), 2 * day, policy.calendar)
    )
    await recorded(stand_ins, req, "resumed")
    await act(handle, action(ActionKind.RESOLVE, cw, text="办结"))
    await handle.result()
    await replay_and_maybe_record(handle, "work-order")


async def test_an_extension_waiting_when_the_deadline_passes_lapses_in_place(
    ts_worker, stand_ins
) -> None:
    """Supervised in place (no escalation), the missed resolution deadline ends an extension
    still waiting: it lapses undecided, as a move lapses it, instead of waiting for ever in
    the supervisors' worklist for a decision no clock could take."""
    env, queue = ts_worker
    req = make_request()
    handle, _ = await pinned_submit(
        env, queue, stand_ins, req, breach_action=BreachAction.SUPERVISE_IN_PLACE
    )
    cw = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.REQUEST_EXTENSION, cw, days=2, text="等待银行审批"))
    assert Awaiting.EXTENSION_DECISION in (await view(handle)).summary.awaiting
    state = await view(handle)
    due = next(c.deadline for c in state.clocks if c.kind is ClockKind.RESOLUTION and c.deadline)
    await sleep_until(env, due + timedelta(minutes=5))
    state = await view(handle)
    assert Awaiting.EXTENSION_DECISION not in state.summary.awaiting
    [asked] = state.applications
    assert (asked.approved, asked.decision_text) == (None, "sla_breached")
    city = supervisor(Tier.MUNICIPAL, "330100")
    approving = action(ActionKind.APPROVE_EXTENSION, city, text="同意")
    assert "no extension is waiting for a decision" in await refused(handle, approving)


async def test_a_return_undecided_by_its_deadline_reminds_the_deciders_once(
    ts_worker, stand_ins
) -> None:
    """退单 waits on the tier above, while the unit's clocks run: one working day later
    (the packaged ``decision_business_days``) it records ``decision_overdue`` once; a
    decision after it is still taken, and a return decided in time records none."""
    stand_ins.extra_institutions.append(OTHER_COUNTY)
    d = await acknowledged(ts_worker, stand_ins)
    await act(d.handle, returning(caseworker(d.holder)))
    (asked,) = records(stand_ins, d.req, "return_requested")
    cal = d.policy.calendar
    decide_by = add_business_seconds(asked.occurred_at, business_day_seconds(cal), cal)
    (app,) = (await view(d.handle)).applications
    assert app.decide_by == decide_by
    await sleep_until(d.env, add_business_seconds(decide_by, 3 * 3600, cal))
    await recorded(stand_ins, d.req, "decision_overdue")
    (overdue,) = records(stand_ins, d.req, "decision_overdue")
    assert near(overdue.occurred_at, decide_by)
    assert overdue.details == {
        "kind": "return",
        "asked_at": asked.occurred_at.isoformat(),
        "decide_by": decide_by.isoformat(),
        "applicant_institution": d.holder,
    }
    late = action(ActionKind.APPROVE_RETURN, CITY, institution_id=OTHER_COUNTY.id, text="转")
    assert (await act(d.handle, late)).institution_id == OTHER_COUNTY.id

    on_time = await acknowledged(ts_worker, stand_ins)
    await act(on_time.handle, returning(caseworker(on_time.holder)))
    refuse = action(ActionKind.REFUSE_RETURN, CITY, text="本单位职责范围内，请继续办理")
    await act(on_time.handle, refuse)
    await sleep_until(on_time.env, add_business_seconds(decide_by, 5 * 3600, cal))
    assert not records(stand_ins, on_time.req, "decision_overdue")


async def test_requests_pinned_before_the_decision_deadline_have_none(ts_worker, stand_ins) -> None:
    d = await dispatch(
        ts_worker, stand_ins, make_request(division_code=DIVISION), decision_days=None
    )
    await act(d.handle, action(ActionKind.ACKNOWLEDGE, caseworker(d.holder)))
    await act(d.handle, returning(caseworker(d.holder)))
    (app,) = (await view(d.handle)).applications
    assert app.decide_by is None
    cal = d.policy.calendar
    await sleep_until(d.env, add_business_seconds(app.asked_at, 2 * business_day_seconds(cal), cal))
    assert not records(stand_ins, d.req, "decision_overdue")
