"""协办: co-handling parts on the real time-skipping server, under the packaged policy.

The holding unit (主办) adds a co-handler for a part with its own deadline; the co-handler
signs for and concludes it; the request cannot be concluded while a part is open unless a
supervisor waives it; a late part reminds its unit.
"""

from __future__ import annotations

from datetime import timedelta

from schemas.domain import State, Tier
from schemas.lifecycle import ActionKind, Institution
from tests.utils.factories import ENTERPRISE, action, caseworker, make_request, supervisor
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import near, pinned_submit, recorded, records
from workflows import views
from workflows.business_time import add_business_seconds, business_day_seconds

DIVISION = "330106"
TALENT = Institution(
    id="county-talent", name="区人才服务中心", tier=Tier.COUNTY, division_code=DIVISION
)


async def _with_part(env, queue, stand_ins, days: int = 3, **rules: object):
    stand_ins.extra_institutions.append(TALENT)
    req = make_request(division_code=DIVISION)
    handle, policy = await pinned_submit(env, queue, stand_ins, req, **rules)
    lead = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.ACKNOWLEDGE, lead))
    add = action(
        ActionKind.ADD_CO_HANDLER,
        lead,
        institution_id=TALENT.id,
        text="落实高层次人才引进补贴",
        days=days,
    )
    await act(handle, add)
    return req, handle, policy, lead


async def test_the_lead_waits_for_the_part_then_concludes(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, lead = await _with_part(env, queue, stand_ins)
    (added,) = records(stand_ins, req, "co_handler_added")
    day = business_day_seconds(policy.calendar)
    due = add_business_seconds(added.occurred_at, 3 * day, policy.calendar)
    state = await view(handle)
    assert state.summary.co_handlers == [TALENT.id]
    (part,) = state.parts
    assert (part.institution_id, part.name) == (TALENT.id, TALENT.name)
    assert part.due_at is not None and part.due_at.isoformat() == added.details["part_due_at"]
    # the part is timed from the action's workflow task; the record is written after the
    # directory check (a local activity), whose time can be milliseconds later
    assert timedelta(0) <= due - part.due_at < timedelta(seconds=1)

    message = await refused(handle, action(ActionKind.RESOLVE, lead, text="办结"))
    assert f"co-handling parts are open: {TALENT.id}" in message

    talent = caseworker(TALENT.id)
    # another unit's caseworker has no part here
    outsider = caseworker("county-330105")
    assert "which has no open part" in await refused(
        handle, action(ActionKind.SIGN_FOR_PART, outsider)
    )
    await act(handle, action(ActionKind.SIGN_FOR_PART, talent))
    await act(handle, action(ActionKind.CONCLUDE_PART, talent, text="补贴已申报"))
    after = await view(handle)
    assert after.summary.co_handlers == [] and after.parts[0].conclusion == "补贴已申报"
    done = await act(handle, action(ActionKind.RESOLVE, lead, text="融资与人才事项均已办结"))
    assert done.state is State.RESOLVED
    assert [
        r.event_type.value for r in records(stand_ins, req, "part_signed_for", "part_concluded")
    ] == [
        "part_signed_for",
        "part_concluded",
    ]


async def test_a_supervisor_waives_a_part_and_a_late_part_is_reminded(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, lead = await _with_part(env, queue, stand_ins, days=1)
    (added,) = records(stand_ins, req, "co_handler_added")
    due = add_business_seconds(
        added.occurred_at, business_day_seconds(policy.calendar), policy.calendar
    )
    await sleep_until(env, add_business_seconds(due, 60, policy.calendar))
    await recorded(stand_ins, req, "reminded")
    (late,) = [r for r in records(stand_ins, req, "reminded") if r.details["clock"] == "part"]
    assert near(late.occurred_at, due) and late.details["co_handler"] == TALENT.id

    assert "role caseworker may not waive_part" in await refused(
        handle, action(ActionKind.WAIVE_PART, lead, institution_id=TALENT.id, text="x")
    )
    boss = supervisor(Tier.COUNTY, DIVISION)
    await act(
        handle,
        action(ActionKind.WAIVE_PART, boss, institution_id=TALENT.id, text="人才事项另案办理"),
    )
    assert (await view(handle)).parts[0].waived_by == boss.id
    done = await act(handle, action(ActionKind.RESOLVE, lead, text="办结"))
    assert done.state is State.RESOLVED


async def test_a_co_handler_must_be_a_unit_of_the_directory(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, _, lead = await _with_part(env, queue, stand_ins)
    again = action(ActionKind.ADD_CO_HANDLER, lead, institution_id=TALENT.id, text="再加", days=1)
    assert "has an open part already" in await refused(handle, again)
    ghost = action(ActionKind.ADD_CO_HANDLER, lead, institution_id="county-ghost", text="x", days=1)
    assert "institution_id: county-ghost is not in the directory" in await refused(handle, ghost)
    itself = action(
        ActionKind.ADD_CO_HANDLER, lead, institution_id=lead.institution_id, text="x", days=1
    )
    assert "holds the request" in await refused(handle, itself)


async def test_a_late_part_is_supervised_as_its_co_handlers_which_replies(
    ts_worker, stand_ins
) -> None:
    """督办 of a late part is of its co-handler (not the holding unit): the co-handler's
    caseworker is offered the reply and writes it, after concluding its part too; the
    holding unit may not answer for it, and no reprimand follows the reply."""
    env, queue = ts_worker
    # supervised a working day after the reminder: before the resolution deadline escalates it
    req, handle, policy, lead = await _with_part(
        env, queue, stand_ins, days=1, supervision_after_days=1
    )
    cal = policy.calendar
    (added,) = records(stand_ins, req, "co_handler_added")
    due = add_business_seconds(added.occurred_at, business_day_seconds(cal), cal)
    supervise_at = add_business_seconds(
        due, policy.supervision_after_days * business_day_seconds(cal), cal
    )
    await sleep_until(env, add_business_seconds(supervise_at, 60, cal))
    await recorded(stand_ins, req, "supervision_opened")
    (opened,) = records(stand_ins, req, "supervision_opened")
    assert opened.details["clock"] == f"part:{TALENT.id}"
    assert opened.details["supervised_institution"] == TALENT.id
    state = await view(handle)
    assert [s.institution_id for s in state.supervisions] == [TALENT.id]

    talent = caseworker(TALENT.id)
    assert ActionKind.REPLY_SUPERVISION in views.offered_to(state, talent)
    assert ActionKind.REPLY_SUPERVISION not in views.offered_to(state, lead)
    message = await refused(handle, action(ActionKind.REPLY_SUPERVISION, lead, text="已协调"))
    assert f"the supervision is of {TALENT.id}" in message

    await act(handle, action(ActionKind.CONCLUDE_PART, talent, text="补贴已申报"))
    reply = action(ActionKind.REPLY_SUPERVISION, talent, text="已办结，逾期原因系材料待补")
    assert (await act(handle, reply)).event_ids
    (answered,) = (await view(handle)).supervisions
    assert (answered.replied_by, answered.reply) == (talent.id, reply.text)
    await sleep_until(env, add_business_seconds(answered.reply_due_at, 60, cal))
    assert records(stand_ins, req, "reprimanded") == []


async def test_a_late_reply_answers_the_units_own_reprimanded_supervision(
    ts_worker, stand_ins
) -> None:
    """The co-handler, reprimanded (通报) for not replying to its part's 督办, writes its reply
    later while the holding unit's own supervision waits: the reply answers the co-handler's,
    late, and leaves the holding unit's waiting."""
    env, queue = ts_worker
    req, handle, policy, lead = await _with_part(
        env, queue, stand_ins, days=1, supervision_after_days=1, supervision_reply_days=1
    )
    cal = policy.calendar
    await recorded(stand_ins, req, "co_handler_added")
    (added,) = records(stand_ins, req, "co_handler_added")
    due = add_business_seconds(added.occurred_at, business_day_seconds(cal), cal)
    reprimand = add_business_seconds(due, 2 * business_day_seconds(cal), cal)
    await sleep_until(env, add_business_seconds(reprimand, 60, cal))
    await recorded(stand_ins, req, "reprimanded")
    city = supervisor(Tier.MUNICIPAL, DIVISION)
    await act(handle, action(ActionKind.SUPERVISE, city, text="请说明办理进度", days=2))

    talent = caseworker(TALENT.id)
    reply = action(ActionKind.REPLY_SUPERVISION, talent, text="逾期原因系材料待补")
    await act(handle, reply)
    part, holder = (await view(handle)).supervisions
    assert (part.institution_id, part.reply, part.reprimanded_at is not None) == (
        TALENT.id,
        reply.text,
        True,
    )
    assert holder.institution_id == lead.institution_id and holder.awaiting_reply
    (late,) = records(stand_ins, req, "supervision_replied")
    assert late.details["late"] is True and late.details["clock"] == f"part:{TALENT.id}"


async def test_a_part_ends_with_a_withdrawn_request(ts_worker, stand_ins) -> None:
    """The enterprise withdraws while a co-handler's part is open: the part ends with the
    request (its unit has nothing left to do, and no longer sees it), and the withdrawal
    names the units whose parts ended, so that they are told."""
    env, queue = ts_worker
    req, handle, _, _ = await _with_part(env, queue, stand_ins)
    await act(handle, action(ActionKind.SIGN_FOR_PART, caseworker(TALENT.id)))
    await act(handle, action(ActionKind.WITHDRAW, ENTERPRISE, text="已自行解决"))
    state = await view(handle)
    assert state.summary.state is State.WITHDRAWN
    assert state.summary.co_handlers == []
    (part,) = state.parts
    assert (part.open, part.ended_by) == (False, "withdrawn")
    (withdrawn,) = records(stand_ins, req, "withdrawn")
    assert withdrawn.details["ended_parts"] == [TALENT.id]
    assert withdrawn.summary.co_handlers == []
