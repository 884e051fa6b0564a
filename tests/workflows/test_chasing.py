"""催办 → 督办 → 通报 on the real time-skipping server, at exact business-time instants.

The request arrives on Wednesday 30 December 2026 under ``supervise_in_place``; its response
deadline passes on Thursday 31 December, and the ladder then crosses New Year's Day (a public
holiday, Friday 1 January 2027) and the weekend: the reminder falls on Monday 4 January.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from schemas.domain import Tier
from schemas.lifecycle import ActionKind, SuspendReason
from schemas.policy import BreachAction
from tests.utils.eventually import eventually
from tests.utils.factories import action, caseworker, make_request, supervisor
from tests.workflows.test_lifecycle import act, sleep_until, submit, view
from tests.workflows.test_operator import replay_and_maybe_record
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import near, pin, pinned_submit, recorded, records
from workflows import views
from workflows.business_time import add_business_seconds, business_day_seconds

CST = timezone(timedelta(hours=8))
WEDNESDAY_MORNING = datetime(2026, 12, 30, 9, 0, tzinfo=CST)
CITY = supervisor(Tier.MUNICIPAL, "330106")


async def _late_response(env, queue, stand_ins):
    """A request whose unit signed for it but never answered; return the breach instant."""
    await sleep_until(env, WEDNESDAY_MORNING)
    req = make_request()
    handle, policy = await pinned_submit(
        env, queue, stand_ins, req, breach_action=BreachAction.SUPERVISE_IN_PLACE
    )
    cw = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.SIGN_FOR, cw))
    (assigned,) = records(stand_ins, req, "assigned")
    response = policy.targets[Tier.COUNTY].response_seconds
    due = add_business_seconds(assigned.occurred_at, response, policy.calendar)
    return req, handle, policy, cw, due


def of_clock(stand_ins, req, event: str, clock: str = "response") -> list:
    """The records of ``event`` about ``clock`` (the resolution clock runs out later too)."""
    return [r for r in records(stand_ins, req, event) if r.details.get("clock") == clock]


def days_after(policy, start: datetime, days: int) -> datetime:
    cal = policy.calendar
    return add_business_seconds(start, days * business_day_seconds(cal), cal)


async def test_each_rung_at_its_business_time_instant(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, due = await _late_response(env, queue, stand_ins)
    reminder = days_after(policy, due, 1)
    supervision = days_after(policy, reminder, 5)
    reprimand = days_after(policy, supervision, 3)
    assert reminder.astimezone(CST).date() == date(2027, 1, 4)  # past New Year and the weekend

    await sleep_until(env, add_business_seconds(reprimand, 60, policy.calendar))
    await recorded(stand_ins, req, "supervisor_alert", "reminded", "supervision_opened")
    await recorded(stand_ins, req, "reprimanded")
    (alert,) = of_clock(stand_ins, req, "supervisor_alert")
    (reminded,) = of_clock(stand_ins, req, "reminded")
    (opened,) = of_clock(stand_ins, req, "supervision_opened")
    (reprimanded,) = of_clock(stand_ins, req, "reprimanded")
    assert near(alert.occurred_at, due)
    assert near(reminded.occurred_at, reminder) and reminded.details["clock"] == "response"
    assert near(opened.occurred_at, supervision) and opened.details["cause"] == "chase"
    assert opened.details["reply_due_at"] == days_after(policy, opened.occurred_at, 3).isoformat()
    assert near(reprimanded.occurred_at, reprimand)
    assert reprimanded.details["opened_by"] == opened.actor.id  # the engine: no opener to tell
    state = await view(handle)
    assert state.summary.tier is Tier.COUNTY  # supervised in place, never escalated
    case = next(s for s in state.supervisions if s.clock == "response")
    assert case.reprimanded_at is not None and case.replied_at is None

    # 通报 stands, but the unit's written reply is still recorded when it comes, late
    assert ActionKind.REPLY_SUPERVISION in views.offered_to(state, cw)
    reply = action(ActionKind.REPLY_SUPERVISION, cw, text="已与企业沟通，今日办结")
    await act(handle, reply)
    (late,) = of_clock(stand_ins, req, "supervision_replied")
    assert late.details["late"] is True and late.details["opened_by"] == opened.actor.id
    case = next(s for s in (await view(handle)).supervisions if s.clock == "response")
    assert case.reprimanded_at is not None and case.reply == "已与企业沟通，今日办结"
    again = action(ActionKind.REPLY_SUPERVISION, cw, text="再次说明")
    assert "no supervision waits for a reply" in await refused(handle, again)
    await replay_and_maybe_record(handle, "late-supervision-reply")


async def test_a_written_reply_in_time_avoids_the_reprimand(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, due = await _late_response(env, queue, stand_ins)
    supervision = days_after(policy, days_after(policy, due, 1), 5)
    await sleep_until(env, add_business_seconds(supervision, 60, policy.calendar))
    await recorded(stand_ins, req, "supervision_opened")
    # the reply is the supervised unit's: not the city supervisor's who would read it
    city = supervisor(Tier.MUNICIPAL, "330100", "zj-330100-sme")
    by_city = action(ActionKind.REPLY_SUPERVISION, city, text="代为回复")
    assert "which writes the reply" in await refused(handle, by_city)
    reply = action(ActionKind.REPLY_SUPERVISION, cw, text="已联系企业，今日内答复")
    await act(handle, reply)
    await sleep_until(env, days_after(policy, supervision, 4))
    assert not of_clock(stand_ins, req, "reprimanded")
    case = next(s for s in (await view(handle)).supervisions if s.clock == "response")
    assert case.reply == "已联系企业，今日内答复" and case.replied_by == cw.id
    assert "no supervision waits for a reply" in await refused(
        handle, reply.model_copy(update={"action_id": "again"})
    )


async def test_answering_ends_the_chase(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw, due = await _late_response(env, queue, stand_ins)
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "supervisor_alert")
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await sleep_until(env, days_after(policy, due, 10))
    for rung in ("reminded", "supervision_opened", "reprimanded"):
        assert not of_clock(stand_ins, req, rung)
    assert (await view(handle)).chases[0].closed_at is not None


async def test_a_supervisor_opens_supervision_by_hand(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle, policy = await pinned_submit(env, queue, stand_ins, req)
    cw = caseworker((await view(handle)).summary.institution_id or "")
    assert "role caseworker may not supervise" in await refused(
        handle, action(ActionKind.SUPERVISE, cw, text="x")
    )
    # the unit's own lead does not supervise its unit (it would write the reply itself)
    lead = supervisor(Tier.COUNTY, "330106", cw.institution_id)
    assert "a county supervisor does not supervise the county tier's request" in await refused(
        handle, action(ActionKind.SUPERVISE, lead, text="x")
    )
    await act(
        handle, action(ActionKind.SUPERVISE, CITY, text="企业多次来电，请说明办理进度", days=2)
    )
    (opened,) = records(stand_ins, req, "supervision_opened")
    assert opened.details["cause"] == "manual" and opened.actor.id == CITY.id
    assert opened.details["reply_due_at"] == days_after(policy, opened.occurred_at, 2).isoformat()
    await act(handle, action(ActionKind.REPLY_SUPERVISION, cw, text="已于今日答复企业"))
    (case,) = (await view(handle)).supervisions
    assert case.opened_by == CITY.id and case.replied_at is not None
    await recorded(stand_ins, req, "supervision_replied")
    (replied,) = records(stand_ins, req, "supervision_replied")
    assert replied.details["opened_by"] == CITY.id  # the notifier tells whoever opened it


async def _supervised_then_escalated(env, queue, stand_ins, **pinned: object):
    """A county unit supervised by its city (reply due in 2 working days), which then pulls
    the request up (提级); return the request, its handle and the reply deadline."""
    req = make_request()
    policy = pin(await env.get_current_time(), req).model_copy(update=pinned)
    stand_ins.policy = policy  # pinned before the field: as decoded, without it (False)
    handle = await submit(env, queue, req)
    await eventually(lambda: records(stand_ins, req, "assigned"), what="the assigned record")
    county = (await view(handle)).summary.institution_id or ""
    await act(handle, action(ActionKind.SUPERVISE, CITY, text="请说明办理进度", days=2))
    (opened,) = records(stand_ins, req, "supervision_opened")
    await act(handle, action(ActionKind.ESCALATE, CITY, text="需市级统筹"))
    due = days_after(policy, opened.occurred_at, 2)
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    return req, handle, county, policy


async def test_a_supervision_ends_when_the_request_leaves_the_unit(ts_worker, stand_ins) -> None:
    """督办 of the holding unit: once the request is escalated away, the unit can no longer act
    on it and owes no reply; no reprimand follows at the reply deadline."""
    env, queue = ts_worker
    req, handle, county, _ = await _supervised_then_escalated(env, queue, stand_ins)
    escalated = records(stand_ins, req, "escalated")[0]  # by hand (later ones: breaches)
    assert escalated.details["supervision_ended_for"] == county
    assert not records(stand_ins, req, "reprimanded")
    (case,) = (await view(handle)).supervisions
    assert case.ended_at == escalated.occurred_at and not case.awaiting_reply
    assert "the request is held by" in await refused(  # its scope went with the request
        handle, action(ActionKind.REPLY_SUPERVISION, caseworker(county), text="迟到的回复")
    )


async def test_requests_pinned_before_keep_the_supervision_after_a_move(
    ts_worker, stand_ins
) -> None:
    env, queue = ts_worker
    req, handle, county, _ = await _supervised_then_escalated(
        env, queue, stand_ins, supervision_ends_on_move=False
    )
    escalated = records(stand_ins, req, "escalated")[0]
    assert "supervision_ended_for" not in escalated.details
    await recorded(stand_ins, req, "reprimanded")
    (case,) = (await view(handle)).supervisions
    assert case.ended_at is None and case.reprimanded_at is not None


async def test_one_supervision_of_the_unit_waits_for_its_reply_at_a_time(
    ts_worker, stand_ins
) -> None:
    """A second 督办 of the unit while one waits for its written reply would be answered by
    the one reply and reprimanded twice: it is refused, naming the open one, and not offered;
    once the unit has replied, a new one may be opened."""
    env, queue = ts_worker
    req = make_request()
    handle, _ = await pinned_submit(env, queue, stand_ins, req)
    cw = caseworker((await view(handle)).summary.institution_id or "")
    province = supervisor(Tier.PROVINCIAL, "330000")
    await act(handle, action(ActionKind.SUPERVISE, CITY, text="请说明办理进度", days=2))
    for again in (province, CITY):
        why = await refused(handle, action(ActionKind.SUPERVISE, again, text="再次督办"))
        assert f"owes the written reply to the supervision opened by {CITY.id}" in why
        assert ActionKind.SUPERVISE not in views.offered_to(await view(handle), again)
    await act(handle, action(ActionKind.REPLY_SUPERVISION, cw, text="已于今日答复企业"))
    assert ActionKind.SUPERVISE in views.offered_to(await view(handle), province)
    await act(handle, action(ActionKind.SUPERVISE, province, text="省级督办", days=2))
    assert [s.opened_by for s in (await view(handle)).supervisions] == [CITY.id, province.id]


async def _signed_for_in_place(env, queue, stand_ins, **pinned: object):
    """A request of Wednesday morning under ``supervise_in_place`` (the engine rules
    ``pinned`` as given), signed for by its county unit."""
    await sleep_until(env, WEDNESDAY_MORNING)
    req = make_request()
    policy = pin(
        await env.get_current_time(), req, breach_action=BreachAction.SUPERVISE_IN_PLACE
    ).model_copy(update=pinned)
    stand_ins.policy = policy
    handle = await submit(env, queue, req)
    await eventually(lambda: records(stand_ins, req, "assigned"), what="the assigned record")
    cw = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.SIGN_FOR, cw))
    return req, handle, policy, cw


async def _suspended_after_its_resolution_deadline(env, queue, stand_ins, **pinned: object):
    """Supervised in place: the unit answered, missed its resolution deadline, then had a
    suspension of 10 working days approved; return what the test reads."""
    req, handle, policy, cw = await _signed_for_in_place(env, queue, stand_ins, **pinned)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    due = (await view(handle)).summary.resolution_due_at
    assert due is not None
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "supervisor_alert")
    ask = action(
        ActionKind.SUSPEND,
        cw,
        text="等待法院裁定",
        suspend_reason=SuspendReason.LEGAL_PROCEDURE,
        days=10,
    )
    await act(handle, ask)
    await act(handle, action(ActionKind.APPROVE_SUSPENSION, CITY, text="同意挂起"))
    (approved,) = records(stand_ins, req, "suspension_approved")
    until = datetime.fromisoformat(approved.details["suspended_until"])
    return req, handle, policy, due, approved.occurred_at, until


async def test_the_ladder_stands_still_through_an_approved_suspension(ts_worker, stand_ins) -> None:
    """The tier above approved the pause: no reminder, supervision or reprimand while the
    clocks stand still; the ladder resumes with them, each rung as much later."""
    env, queue = ts_worker
    req, handle, policy, due, since, until = await _suspended_after_its_resolution_deadline(
        env, queue, stand_ins
    )
    cal = policy.calendar
    await sleep_until(env, until - timedelta(minutes=1))
    assert not of_clock(stand_ins, req, "reminded", "resolution")
    await sleep_until(env, add_business_seconds(until, 60, cal))
    await recorded(stand_ins, req, "resumed")
    (resumed,) = records(stand_ins, req, "resumed")
    paused = resumed.details["paused_seconds"]
    reminder = add_business_seconds(days_after(policy, due, 1), paused, cal)
    await sleep_until(env, add_business_seconds(reminder, 60, cal))
    await recorded(stand_ins, req, "reminded")
    (reminded,) = of_clock(stand_ins, req, "reminded", "resolution")
    assert near(reminded.occurred_at, reminder) and reminded.occurred_at > until


async def test_requests_pinned_before_are_chased_through_a_suspension(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, due, since, until = await _suspended_after_its_resolution_deadline(
        env, queue, stand_ins, chase_pauses_with_clocks=False
    )
    await sleep_until(env, add_business_seconds(days_after(policy, due, 1), 60, policy.calendar))
    await recorded(stand_ins, req, "reminded")
    (reminded,) = of_clock(stand_ins, req, "reminded", "resolution")
    assert since < reminded.occurred_at < until


async def _supervised_by_hand_when_late(env, queue, stand_ins, **pinned: object):
    """A late response (supervised in place) that the city supervises by hand at once, with
    a reply due in 10 working days; the ladder's own supervision rung falls due meanwhile."""
    req, handle, policy, cw = await _signed_for_in_place(env, queue, stand_ins, **pinned)
    (assigned,) = records(stand_ins, req, "assigned")
    response = policy.targets[Tier.COUNTY].response_seconds
    due = add_business_seconds(assigned.occurred_at, response, policy.calendar)
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "supervisor_alert")
    await act(handle, action(ActionKind.SUPERVISE, CITY, text="请说明为何未答复", days=10))
    rung = days_after(policy, days_after(policy, due, 1), 5)  # the ladder's supervision
    await sleep_until(env, add_business_seconds(rung, 60, policy.calendar))
    await recorded(stand_ins, req, "reminded")
    return req, handle


async def test_the_ladder_opens_no_supervision_of_a_unit_that_owes_a_reply(
    ts_worker, stand_ins
) -> None:
    """One ignored request is not supervised (and reprimanded) once per late clock: the
    late response joins the supervision the unit already owes a reply to."""
    env, queue = ts_worker
    req, handle = await _supervised_by_hand_when_late(env, queue, stand_ins)
    state = await view(handle)
    (chase,) = [c for c in state.chases if c.clock == "response"]
    assert chase.supervised_at is not None  # its rung was taken: joined, not opened
    assert [s.opened_by for s in state.supervisions] == [CITY.id]
    assert [r.actor.id for r in records(stand_ins, req, "supervision_opened")] == [CITY.id]


async def test_requests_pinned_before_get_the_ladders_supervision_beside(
    ts_worker, stand_ins
) -> None:
    env, queue = ts_worker
    req, handle = await _supervised_by_hand_when_late(
        env, queue, stand_ins, one_supervision_per_unit=False
    )
    await recorded(stand_ins, req, "supervision_opened", "supervision_opened")
    opened = [r.details["cause"] for r in records(stand_ins, req, "supervision_opened")]
    assert opened == ["manual", "chase"]
