"""挂起 under control: waiting for the enterprise's reply ends after the policy's longest wait.

On the real time-skipping server, under the packaged policy (10 working days), on the real
business calendar: the request closes as "no reply" (the default) or resumes handling.
"""

from __future__ import annotations

from schemas.domain import ClockKind, State
from schemas.lifecycle import ActionKind
from schemas.policy import WaitExpiry
from tests.utils.factories import ENTERPRISE, action, caseworker, make_request
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_sign_for import near, pinned_submit, recorded, records
from workflows.business_time import add_business_seconds, business_day_seconds

ENTERPRISE_REPLY = "营业执照扫描件已补充"


async def _awaiting(env, queue, stand_ins, **rules):
    req = make_request()
    handle, policy = await pinned_submit(env, queue, stand_ins, req, **rules)
    cw = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.REQUEST_INFO, cw, text="请补充营业执照"))
    (asked,) = records(stand_ins, req, "info_requested")
    ends = add_business_seconds(
        asked.occurred_at, 10 * business_day_seconds(policy.calendar), policy.calendar
    )
    assert policy.enterprise_wait_max_seconds == 10 * business_day_seconds(policy.calendar)
    assert (await view(handle)).enterprise_reply_due_at == ends
    return req, handle, policy, ends


async def test_no_reply_within_the_longest_wait_closes_the_request(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, ends = await _awaiting(env, queue, stand_ins)
    await sleep_until(env, add_business_seconds(ends, 60, policy.calendar))
    await recorded(stand_ins, req, "closed")
    (closed,) = records(stand_ins, req, "closed")
    assert near(closed.occurred_at, ends) and closed.details["cause"] == "no_reply"
    summary = await handle.result()
    assert summary.state is State.CLOSED
    assert not records(stand_ins, req, "sla_breached")  # the paused clocks never ran out


async def test_the_policy_can_resume_handling_instead(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, ends = await _awaiting(
        env, queue, stand_ins, enterprise_wait_expiry=WaitExpiry.RESUME
    )
    paused = {c.kind: c for c in (await view(handle)).clocks}[ClockKind.RESOLUTION]
    await sleep_until(env, add_business_seconds(ends, 60, policy.calendar))
    await recorded(stand_ins, req, "enterprise_wait_expired")
    (expired,) = records(stand_ins, req, "enterprise_wait_expired")
    assert near(expired.occurred_at, ends) and expired.to_state is State.IN_PROGRESS
    state = await view(handle)
    resolution = {c.kind: c for c in state.clocks}[ClockKind.RESOLUTION]
    remaining = resolution.target_seconds - paused.consumed_seconds
    assert resolution.deadline == add_business_seconds(
        expired.occurred_at, remaining, policy.calendar
    )
    assert state.enterprise_reply_due_at is None


async def test_a_reply_in_time_ends_the_wait(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, policy, ends = await _awaiting(env, queue, stand_ins)
    day = business_day_seconds(policy.calendar)
    (asked,) = records(stand_ins, req, "info_requested")
    await sleep_until(env, add_business_seconds(asked.occurred_at, 9 * day, policy.calendar))
    enterprise = action(ActionKind.PROVIDE_INFO, ENTERPRISE, text=ENTERPRISE_REPLY)
    assert (await act(handle, enterprise)).state is State.IN_PROGRESS
    await sleep_until(env, add_business_seconds(ends, 60, policy.calendar))
    assert not records(stand_ins, req, "closed", "enterprise_wait_expired")
    assert (await view(handle)).summary.state is State.IN_PROGRESS
