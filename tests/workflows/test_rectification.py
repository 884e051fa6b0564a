"""整改 and 申诉 on the real time-skipping server, under the packaged policy.

A rating of 1 or 2 opens a rectification owned by the concluding unit, due in 15 working
days and chased when late; the unit may appeal within 5 working days; a supervisor upholds
(the rating no longer counts, the rectification ends) or rejects the appeal.
"""

from __future__ import annotations

from schemas.domain import State, Tier
from schemas.lifecycle import ActionKind, FollowUpOutcome
from tests.utils.factories import ENTERPRISE, action, supervisor
from tests.workflows.test_follow_up import DESK, _resolved
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import near, recorded, records
from workflows.business_time import add_business_seconds, business_day_seconds

CITY = supervisor(Tier.MUNICIPAL, "330106")


async def _badly_rated_and_closed(env, queue, stand_ins, rating: int = 1):
    req, handle, policy, cw = await _resolved(env, queue, stand_ins)
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
