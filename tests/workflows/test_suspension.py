"""挂起 with approval: a unit asks to stop its clocks for a third party or a procedure.

A supervisor of a tier above approves (the clocks stand still until the unit resumes, or until
the approved working days are up) or refuses; the policy caps the days (30 by default).
"""

from __future__ import annotations

from schemas.domain import SlaStatus, State, Tier
from schemas.lifecycle import ActionKind, ReturnReason, SuspendReason
from tests.utils.factories import action, caseworker, make_request, supervisor
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_operator import replay_and_maybe_record
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import near, pinned_submit, recorded, records
from workflows import views
from workflows.business_time import add_business_seconds, business_day_seconds

CITY = supervisor(Tier.MUNICIPAL, "330106")


def asking(cw, days: int):
    return action(
        ActionKind.SUSPEND,
        cw,
        text="等待市场监管部门出具鉴定意见",
        suspend_reason=SuspendReason.LEGAL_PROCEDURE,
        days=days,
    )


async def _working(env, queue, stand_ins):
    req = make_request()
    handle, policy = await pinned_submit(env, queue, stand_ins, req)
    cw = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    return req, handle, policy, cw


async def test_an_approved_suspension_stops_the_clocks_until_its_days_are_up(
    ts_worker, stand_ins
) -> None:
    env, queue = ts_worker
    req, handle, policy, cw = await _working(env, queue, stand_ins)
    before = (await view(handle)).summary.resolution_due_at
    await act(handle, asking(cw, 5))
    assert (await view(handle)).summary.state is State.ACKNOWLEDGED  # not before the decision
    assert "a tier above does" in await refused(
        handle, action(ActionKind.APPROVE_SUSPENSION, supervisor(Tier.COUNTY, "330106"))
    )
    answer = await act(handle, action(ActionKind.APPROVE_SUSPENSION, CITY))
    assert answer.state is State.SUSPENDED
    (approved,) = records(stand_ins, req, "suspension_approved")
    day = business_day_seconds(policy.calendar)
    until = add_business_seconds(approved.occurred_at, 5 * day, policy.calendar)
    assert approved.details["suspended_until"] == until.isoformat()
    assert approved.details["suspend_reason"] == "legal_procedure"
    state = await view(handle)
    assert state.suspended_until == until and state.summary.sla_status is SlaStatus.PAUSED

    await sleep_until(env, add_business_seconds(until, 60, policy.calendar))
    await recorded(stand_ins, req, "resumed")
    (resumed,) = records(stand_ins, req, "resumed")
    assert near(resumed.occurred_at, until) and resumed.details["cause"] == "suspension_ended"
    assert resumed.details["paused_seconds"] == 5 * day
    after = await view(handle)
    assert after.summary.state is State.IN_PROGRESS and after.suspended_until is None
    # the resolution deadline moved by the five working days the clock stood still
    assert before is not None and near(
        after.summary.resolution_due_at or before,
        add_business_seconds(before, 5 * day, policy.calendar),
    )
    assert not records(stand_ins, req, "sla_breached")


async def test_the_unit_resumes_early_and_a_refusal_changes_nothing(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, cw = await _working(env, queue, stand_ins)
    await act(handle, asking(cw, 3))
    await act(handle, action(ActionKind.REFUSE_SUSPENSION, CITY, text="可先行办理"))
    assert (await view(handle)).summary.state is State.ACKNOWLEDGED
    await act(handle, asking(cw, 3))
    await act(handle, action(ActionKind.APPROVE_SUSPENSION, CITY))
    back = await act(handle, action(ActionKind.RESUME, cw))
    assert back.state is State.IN_PROGRESS
    (resumed,) = records(stand_ins, req, "resumed")
    assert resumed.actor.id == cw.id


async def test_a_suspension_longer_than_the_policy_allows_is_refused(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    _, handle, policy, cw = await _working(env, queue, stand_ins)
    assert policy.suspension_max_days == 30
    message = await refused(handle, asking(cw, 31))
    assert "cannot suspend for 31 working days: the policy allows 30 at most" in message


async def test_a_suspension_asked_before_a_return_is_approved_only_after_it(
    ts_worker, stand_ins
) -> None:
    """The unit asks 挂起, then 退单 (not its matter after all): the supervisor above may not
    approve the 挂起 while the 退单 waits (a suspended request is out of the states the desk
    decides a return in, which left it undecidable); refusing it is not held up; once the
    desk refused the 退单, the 挂起 is approved."""
    env, queue = ts_worker
    req, handle, policy, cw = await _working(env, queue, stand_ins)
    await act(handle, asking(cw, 5))
    back = action(
        ActionKind.RETURN, cw, text="企业注册地不在本区", return_reason=ReturnReason.OUTSIDE_REGION
    )
    await act(handle, back)
    waiting = await view(handle)
    assert ActionKind.APPROVE_SUSPENSION not in views.offered_to(waiting, CITY)
    assert ActionKind.REFUSE_SUSPENSION in views.offered_to(waiting, CITY)
    assert "waits for the dispatch desk's decision" in await refused(
        handle, action(ActionKind.APPROVE_SUSPENSION, CITY)
    )
    await act(handle, action(ActionKind.REFUSE_RETURN, CITY, text="本单位职责范围内，请继续办理"))
    answer = await act(handle, action(ActionKind.APPROVE_SUSPENSION, CITY))
    assert answer.state is State.SUSPENDED
    await replay_and_maybe_record(handle, "suspension-approved-after-return")
