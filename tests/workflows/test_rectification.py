"""整改 and 申诉 on the real time-skipping server, under the packaged policy.

A rating of 1 or 2 opens a rectification owned by the concluding unit, due in 15 working
days and chased when late; the unit may appeal within 5 working days; a supervisor upholds
(the rating no longer counts, the rectification ends) or rejects the appeal.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind, Awaiting, CalendarUpdate, FollowUpOutcome
from schemas.request import SYSTEM_ACTOR, Actor
from tests.utils.factories import ENTERPRISE, action, caseworker, supervisor
from tests.workflows.test_follow_up import DESK, _resolved
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_operator import replay_and_maybe_record
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import near, recorded, records
from workflows import views
from workflows.business_time import add_business_seconds, business_day_seconds
from workflows.rectification import CLOCK
from workflows.service_request import ServiceRequestWorkflow

CITY = supervisor(Tier.MUNICIPAL, "330106")
CST = timezone(timedelta(hours=8))
# Friday 2 April 2027, 09:00 in Shanghai; Monday 5 April is the Qingming holiday
FRIDAY_BEFORE_QINGMING = datetime(2027, 4, 2, 9, 0, tzinfo=CST)
OVERDUE = "appeal_decision_overdue"


async def _badly_rated_and_closed(env, queue, stand_ins, rating: int = 1, **rules: object):
    req, handle, policy, cw = await _resolved(env, queue, stand_ins, **rules)
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=rating))
    (opened,) = records(stand_ins, req, "rectification_opened")
    # the follow-up a bad rating needs closes the request; the rectification goes on
    closed = await act(
        handle, action(ActionKind.FOLLOW_UP, DESK, outcome=FollowUpOutcome.SATISFIED)
    )
    assert closed.state is State.CLOSED
    return req, handle, policy, cw, opened


async def test_a_bad_rating_opens_a_rectification_concluded_in_time(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, opened = await _badly_rated_and_closed(env, queue, stand_ins)
    day = business_day_seconds(policy.calendar)
    due = add_business_seconds(opened.occurred_at, 15 * day, policy.calendar)
    assert opened.details["due_at"] == due.isoformat()
    assert opened.details["rectifying_institution"] == cw.institution_id
    state = await view(handle)
    assert state.rectification is not None and state.rectification.open
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, cw, text="已对承办人员开展培训"))
    await handle.result()  # nothing more keeps it open
    assert not records(stand_ins, req, "reminded")


async def test_a_late_rectification_is_chased(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, opened = await _badly_rated_and_closed(env, queue, stand_ins)
    day = business_day_seconds(policy.calendar)
    due = add_business_seconds(opened.occurred_at, 15 * day, policy.calendar)
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "reminded")
    (late,) = records(stand_ins, req, "reminded")
    assert late.details["clock"] == "rectification" and near(late.occurred_at, due)
    supervision = add_business_seconds(late.occurred_at, 5 * day, policy.calendar)
    await sleep_until(env, add_business_seconds(supervision, 60, policy.calendar))
    await recorded(stand_ins, req, "supervision_opened")
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, cw, text="整改完成"))
    await act(handle, action(ActionKind.REPLY_SUPERVISION, cw, text="已整改"))
    await handle.result()


async def test_an_upheld_appeal_removes_the_rating_and_ends_the_rectification(
    ts_worker, stand_ins
) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, opened = await _badly_rated_and_closed(env, queue, stand_ins)
    assert "a tier above" in await refused(
        handle, action(ActionKind.UPHOLD_APPEAL, CITY, text="x")
    ) or "no appeal waits" in await refused(
        handle, action(ActionKind.UPHOLD_APPEAL, CITY, text="x")
    )
    await act(handle, action(ActionKind.APPEAL_RATING, cw, text="企业误评：评价对象为其他单位"))
    assert "appealed already" in await refused(
        handle, action(ActionKind.APPEAL_RATING, cw, text="再次申诉")
    )
    assert "role caseworker may not uphold_appeal" in await refused(
        handle, action(ActionKind.UPHOLD_APPEAL, cw, text="x")
    )
    await act(handle, action(ActionKind.UPHOLD_APPEAL, CITY, text="核实为误评"))
    (upheld,) = records(stand_ins, req, "appeal_upheld")
    assert upheld.details == {"rating": 1, "rectifying_institution": cw.institution_id}
    await handle.result()
    state = await view(handle)
    assert state.rectification is not None and state.rectification.appeal_upheld is True


async def test_a_rejected_appeal_leaves_the_rectification_and_late_appeals_are_refused(
    ts_worker, stand_ins
) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, opened = await _badly_rated_and_closed(env, queue, stand_ins, 2)
    await act(handle, action(ActionKind.APPEAL_RATING, cw, text="理由"))
    await act(handle, action(ActionKind.REJECT_APPEAL, CITY, text="评价属实"))
    assert (await view(handle)).rectification.open  # type: ignore[union-attr]
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, cw, text="整改完成"))
    await handle.result()

    other, handle2, _, cw2, opened2 = await _badly_rated_and_closed(env, queue, stand_ins)
    window = add_business_seconds(
        opened2.occurred_at, 5 * business_day_seconds(policy.calendar), policy.calendar
    )
    await sleep_until(env, add_business_seconds(window, 60, policy.calendar))
    assert "the appeal window ended" in await refused(
        handle2, action(ActionKind.APPEAL_RATING, cw2, text="迟到的申诉")
    )


async def test_an_appeal_undecided_by_its_deadline_reminds_the_supervisors_once(
    ts_worker, stand_ins
) -> None:
    """Filed on a Friday, the decision falls due 5 working days later, past the weekend and
    the Qingming holiday: Monday 12 April at the same time of day, when the supervisors are
    reminded once; a decision after it is still taken."""
    env, queue = ts_worker
    await sleep_until(env, FRIDAY_BEFORE_QINGMING)
    req, handle, policy, cw, _ = await _badly_rated_and_closed(env, queue, stand_ins)
    assert policy.appeal_decision_days == 5  # the packaged policy's default
    await act(handle, action(ActionKind.APPEAL_RATING, cw, text="企业误评：评价对象为其他单位"))
    (appealed,) = records(stand_ins, req, "rating_appealed")
    assert appealed.occurred_at.astimezone(CST).date() == FRIDAY_BEFORE_QINGMING.date()
    cal = policy.calendar
    decide_by = add_business_seconds(appealed.occurred_at, 5 * business_day_seconds(cal), cal)
    assert decide_by - appealed.occurred_at == timedelta(days=10)  # Mon 12 April, same time
    assert appealed.details["decide_by"] == decide_by.isoformat()
    state = await view(handle)
    assert state.rectification is not None and state.rectification.appeal_decide_by == decide_by

    day = business_day_seconds(cal)
    await sleep_until(env, add_business_seconds(appealed.occurred_at, 5 * day - 60, cal))
    assert not records(stand_ins, req, OVERDUE)  # not a minute early
    await sleep_until(env, add_business_seconds(decide_by, 60, cal))
    await recorded(stand_ins, req, OVERDUE)
    (overdue,) = records(stand_ins, req, OVERDUE)
    assert near(overdue.occurred_at, decide_by)
    assert overdue.details == {
        "appealed_at": appealed.occurred_at.isoformat(),
        "decide_by": decide_by.isoformat(),
        "rectifying_institution": cw.institution_id,  # decided above the rated unit
    }
    assert overdue.actor.id == SYSTEM_ACTOR.id and overdue.to_state is State.CLOSED
    await sleep_until(env, add_business_seconds(decide_by, 2 * day, cal))
    state = await view(handle)
    assert state.rectification is not None
    assert state.rectification.appeal_overdue_at == overdue.occurred_at
    assert len(records(stand_ins, req, OVERDUE)) == 1  # once

    # decided late: still taken, and the reminder stays in the trail
    await act(handle, action(ActionKind.REJECT_APPEAL, CITY, text="评价属实"))
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, cw, text="整改完成"))
    await handle.result()
    events = stand_ins.events(req.request_id)
    assert events.index(OVERDUE) < events.index("appeal_rejected")
    assert events.count(OVERDUE) == 1
    await replay_and_maybe_record(handle, "appeal-decision-overdue")


async def test_an_appeal_decided_in_time_reminds_nobody(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, _ = await _badly_rated_and_closed(env, queue, stand_ins)
    await act(handle, action(ActionKind.APPEAL_RATING, cw, text="理由"))
    (appealed,) = records(stand_ins, req, "rating_appealed")
    decide_by = (await view(handle)).rectification.appeal_decide_by  # type: ignore[union-attr]
    assert decide_by is not None
    cal = policy.calendar
    last_minute = 5 * business_day_seconds(cal) - 60
    await sleep_until(env, add_business_seconds(appealed.occurred_at, last_minute, cal))
    await act(handle, action(ActionKind.REJECT_APPEAL, CITY, text="评价属实"))
    # the rectification keeps the request running past the appeal's deadline
    await sleep_until(env, add_business_seconds(decide_by, 3600, cal))
    assert (await view(handle)).rectification.open  # type: ignore[union-attr]
    assert not records(stand_ins, req, OVERDUE)
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, cw, text="整改完成"))
    await handle.result()
    assert OVERDUE not in stand_ins.events(req.request_id)


async def test_a_request_pinned_before_the_deadline_has_none(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, _ = await _badly_rated_and_closed(
        env, queue, stand_ins, appeal_decision_days=None
    )
    await act(handle, action(ActionKind.APPEAL_RATING, cw, text="理由"))
    (appealed,) = records(stand_ins, req, "rating_appealed")
    assert "decide_by" not in appealed.details
    cal = policy.calendar
    await sleep_until(
        env, add_business_seconds(appealed.occurred_at, 10 * business_day_seconds(cal), cal)
    )
    state = await view(handle)
    assert state.rectification is not None and state.rectification.appeal_pending
    assert state.rectification.appeal_decide_by is None
    assert not records(stand_ins, req, OVERDUE)
    await act(handle, action(ActionKind.UPHOLD_APPEAL, CITY, text="核实为误评"))
    await handle.result()
    assert OVERDUE not in stand_ins.events(req.request_id)


async def test_a_redo_leaves_the_rectification_and_its_appeal_to_go_on(
    ts_worker, stand_ins
) -> None:
    """重办 after a bad rating: the request is handled again while its 整改 and 申诉 deadlines
    keep running, so the unit appeals and concludes its rectification, and a supervisor above
    decides the appeal, meanwhile; the rated unit's own lead does not decide it, and nobody is
    offered a rating the redo cannot take."""
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=1, text="银行未放款"))
    redo = await act(
        handle,
        action(ActionKind.FOLLOW_UP, DESK, outcome=FollowUpOutcome.UNSATISFIED, text="未放款"),
    )
    assert redo.state is State.IN_PROGRESS
    await act(handle, action(ActionKind.APPEAL_RATING, cw, text="企业误评：评价对象为其他单位"))
    lead = supervisor(Tier.COUNTY, "330106", institution_id=cw.institution_id)
    assert "does not decide for itself" in await refused(
        handle, action(ActionKind.UPHOLD_APPEAL, lead, text="本单位认为误评")
    )
    await act(handle, action(ActionKind.REJECT_APPEAL, CITY, text="评价属实"))
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, cw, text="已对承办人员开展培训"))
    state = await view(handle)
    assert state.summary.state is State.IN_PROGRESS
    assert state.rectification is not None and not state.rectification.open
    assert ActionKind.RATE not in state.allowed_actions
    assert [r.event_type.value for r in records(stand_ins, req, "appeal_rejected")] == [
        "appeal_rejected"
    ]
    await replay_and_maybe_record(handle, "rectification-during-redo")


async def _rectifying_during_a_redo(ts_worker, stand_ins, **rules: object):
    env, queue = ts_worker
    req, handle, policy, cw = await _resolved(env, queue, stand_ins, **rules)
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=1, text="银行未放款"))
    (opened,) = records(stand_ins, req, "rectification_opened")
    unsatisfied = action(ActionKind.FOLLOW_UP, DESK, outcome=FollowUpOutcome.UNSATISFIED, text="x")
    assert (await act(handle, unsatisfied)).state is State.IN_PROGRESS
    due = datetime.fromisoformat(str(opened.details["due_at"]))
    return req, handle, policy, due


async def test_a_rectification_is_chased_at_its_deadline_during_a_redo(
    ts_worker, stand_ins
) -> None:
    """重办 with its 整改 open: the 整改's deadline is timed then too, so its 催办 comes at the
    deadline, not whenever another of the request's deadlines wakes it."""
    req, handle, policy, due = await _rectifying_during_a_redo(ts_worker, stand_ins)
    env, _ = ts_worker
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "reminded")
    chased = [r for r in records(stand_ins, req, "reminded") if r.details["clock"] == CLOCK]
    assert chased and near(chased[0].occurred_at, due)
    await replay_and_maybe_record(handle, "rectification-chased-in-redo")


@pytest.mark.parametrize("owned", [True, False])
async def test_a_rectification_is_the_rated_units_wherever_the_request_goes(
    ts_worker, stand_ins, owned: bool
) -> None:
    """The county was rated 1; its 重办 is pulled up to the city. The 整改 is still the
    county's: a move does not end its 催办, its 督办 supervises the county, and the county's
    caseworker writes the reply (requests pinned before the rule supervised the holder)."""
    rule = {"rectification_owned_by_rated_unit": owned}
    req, handle, policy, due = await _rectifying_during_a_redo(ts_worker, stand_ins, **rule)
    env, _ = ts_worker
    (opened,) = records(stand_ins, req, "rectification_opened")
    county = str(opened.details["rectifying_institution"])
    pulled = await act(handle, action(ActionKind.ESCALATE, CITY, text="市级统筹"))
    assert pulled.tier is Tier.MUNICIPAL and pulled.institution_id != county
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "reminded")  # the redo runs on, and late, above
    assert (await view(handle)).summary.institution_id != county
    day = business_day_seconds(policy.calendar)
    await sleep_until(env, add_business_seconds(due, 6 * day, policy.calendar))
    await recorded(stand_ins, req, "supervision_opened")
    (supervision,) = [
        r for r in records(stand_ins, req, "supervision_opened") if r.details["clock"] == CLOCK
    ]
    if not owned:  # before the rule: the holder's, wherever the request had gone
        assert supervision.details["supervised_institution"] != county
        return
    assert supervision.details["supervised_institution"] == county
    supervised = (await view(handle)).summary
    # the county owes the reply: it is in the county's scope, not the holder's worklist
    assert supervised.rectifying_unit == county
    assert Awaiting.SUPERVISION_REPLY not in supervised.awaiting
    assert Awaiting.RECTIFICATION_REPLY in supervised.awaiting  # its worklist, by that unit
    worker = caseworker(county)
    offered = views.offered_to(await view(handle), worker)
    assert {ActionKind.REPLY_SUPERVISION, ActionKind.CONCLUDE_RECTIFICATION} <= set(offered)
    await act(handle, action(ActionKind.REPLY_SUPERVISION, worker, text="已制定整改方案"))
    supervisions = (await view(handle)).supervisions
    (replied,) = [s for s in supervisions if s.clock == CLOCK]
    assert replied.replied_by == worker.id and replied.institution_id == county
    (reply,) = records(stand_ins, req, "supervision_replied")  # whose reply, for the notice
    assert reply.details["supervised_institution"] == county
    city_worker = caseworker(pulled.institution_id)
    assert "belongs to" in await refused(
        handle, action(ActionKind.CONCLUDE_RECTIFICATION, city_worker, text="代为整改")
    )
    await act(
        handle, action(ActionKind.CONCLUDE_RECTIFICATION, worker, text="已对承办人员开展培训")
    )
    concluded = await view(handle)
    assert concluded.rectification is not None and not concluded.rectification.open
    assert concluded.summary.rectifying_unit is None  # it owes nothing more
    await replay_and_maybe_record(handle, "rectification-owned-by-rated-unit")


async def test_the_rated_unit_appeals_after_the_redo_went_up(ts_worker, stand_ins) -> None:
    """The county's redo was pulled up to the city the day after the bad rating: the county
    still appeals the rating within its window, and its lead's scope holds the step too."""
    req, handle, policy, due = await _rectifying_during_a_redo(ts_worker, stand_ins)
    (opened,) = records(stand_ins, req, "rectification_opened")
    county = str(opened.details["rectifying_institution"])
    pulled = await act(handle, action(ActionKind.ESCALATE, CITY, text="市级统筹"))
    assert pulled.institution_id != county
    worker = caseworker(county)
    before = await view(handle)
    assert before.summary.rectifying_unit == county
    assert ActionKind.APPEAL_RATING in views.offered_to(before, worker)
    await act(handle, action(ActionKind.APPEAL_RATING, worker, text="企业误评：评价对象为其他单位"))
    lead = supervisor(Tier.COUNTY, "330106", institution_id=county)
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, lead, text="已对承办人员开展培训"))
    pending = await view(handle)
    assert pending.summary.rectifying_unit == county  # its appeal waits for a decision
    await act(handle, action(ActionKind.REJECT_APPEAL, CITY, text="评价属实"))
    assert (await view(handle)).summary.rectifying_unit is None
    await replay_and_maybe_record(handle, "rated-unit-appeals-after-the-move")


async def test_the_rated_unit_appeals_after_concluding_its_rectification_elsewhere(
    ts_worker, stand_ins
) -> None:
    """The county concludes its 整改, then its redo goes up to the city: within the appeal
    window the county may still appeal, so the request stays in its scope
    (``rectifying_unit``) until its appeal is decided."""
    req, handle, policy, due = await _rectifying_during_a_redo(ts_worker, stand_ins)
    (opened,) = records(stand_ins, req, "rectification_opened")
    county = str(opened.details["rectifying_institution"])
    worker = caseworker(county)
    await act(handle, action(ActionKind.CONCLUDE_RECTIFICATION, worker, text="已开展培训"))
    await act(handle, action(ActionKind.ESCALATE, CITY, text="市级统筹"))
    moved = await view(handle)
    assert moved.summary.institution_id != county and moved.summary.rectifying_unit == county
    assert ActionKind.APPEAL_RATING in views.offered_to(moved, worker)
    await act(handle, action(ActionKind.APPEAL_RATING, worker, text="企业误评：评价对象为其他单位"))
    await act(handle, action(ActionKind.REJECT_APPEAL, CITY, text="评价属实"))
    assert (await view(handle)).summary.rectifying_unit is None  # nothing left to take


async def test_a_calendar_published_after_the_close_moves_the_rectifications_deadline(
    ts_worker, stand_ins
) -> None:
    """The request closed, its 整改 runs on: the days off the State Council publishes for its
    window reach it (``tierflow calendar publish`` lists every running request; a closed one
    was refused as having no running calendar)."""
    env, queue = ts_worker
    req, handle, policy, cw, opened = await _badly_rated_and_closed(env, queue, stand_ins)
    cal = policy.calendar
    day = business_day_seconds(cal)
    inside = add_business_seconds(opened.occurred_at, 3 * day, cal)  # a working day, then
    local = inside.astimezone(timezone(timedelta(minutes=cal.utc_offset_minutes))).date()
    newer = cal.model_copy(
        update={"version": f"{cal.version}-declared", "holidays": sorted([*cal.holidays, local])}
    )
    admin = Actor(id="ops-li", role=Role.ADMIN)
    await handle.execute_update(
        ServiceRequestWorkflow.publish_calendar, CalendarUpdate(calendar=newer, actor=admin)
    )
    state = await view(handle)
    assert state.summary.state is State.CLOSED and state.rectification is not None
    due = add_business_seconds(opened.occurred_at, 15 * day, newer)
    # the business time left is counted in whole seconds (``calendar_change.moved``): the
    # moved deadline may be up to a second before the one counted from the opening
    assert timedelta(0) <= due - state.rectification.due_at < timedelta(seconds=1)
    assert state.rectification.due_at > datetime.fromisoformat(str(opened.details["due_at"]))
    await replay_and_maybe_record(handle, "calendar-after-close")
