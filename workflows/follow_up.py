"""回访: the follow-up desk's call after a resolution, and a bad rating waiting for it. Pure."""

from __future__ import annotations

from datetime import datetime

from schemas.domain import Role, State, Tier
from schemas.lifecycle import BAD_RATING, ActionKind, FollowUpOutcome, WorkflowState
from schemas.messages import N_, Said
from schemas.request import Actor
from workflows.business_time import add_business_seconds, business_day_seconds


def after_resolution(case: WorkflowState, now: datetime) -> None:
    """A resolution's follow-up falls due the policy's working days later."""
    assert case.policy is not None
    cal = case.policy.calendar
    days = case.policy.follow_up_after_days
    case.follow_up_due_at = add_business_seconds(now, days * business_day_seconds(cal), cal)
    case.follow_up_attempts = 0
    case.followed_up = False
    case.last_unreachable_at = None


def spacing_refusal(
    case: WorkflowState, outcome: FollowUpOutcome | None, now: datetime
) -> str | None:
    """Why another unreachable call cannot be recorded yet: the calls that close a request
    for nobody answering are spaced (``follow_up_spacing_hours``). None if it can."""
    policy = case.policy
    last = case.last_unreachable_at
    if outcome is not FollowUpOutcome.UNREACHABLE or last is None or policy is None:
        return None
    if policy.follow_up_spacing_hours is None:
        return None
    cal = policy.calendar
    spacing = round(policy.follow_up_spacing_hours * 3600)
    after = add_business_seconds(last, spacing, cal)
    if now >= after:
        return None
    return Said(
        N_(
            "cannot record another unreachable call before %(at)s: calls to an enterprise "
            "nobody answers are %(hours)s working hours apart at least"
        ),
        at=after.isoformat(),
        hours=f"{policy.follow_up_spacing_hours:g}",
    )


def own_unit_refusal(holder: str | None, tier: Tier, actor: Actor, kind: ActionKind) -> str | None:
    """Why a follow-up desk may not record the 回访 of its own unit's conclusion (``holder``,
    at ``tier``), nor the enterprise's rating of it: the call is the dispatching tier's check
    on the unit, and both count in its 回访率, 解决率 and 满意率 (at the national tier, which
    has none above it, its own desk calls)."""
    if kind not in (ActionKind.FOLLOW_UP, ActionKind.RATE):
        return None
    if actor.role is not Role.FOLLOW_UP or holder is None or tier.next_up() is None:
        return None
    if actor.institution_id != holder:
        return None
    return Said(
        N_(
            "follow-up desk %(actor)s may not %(kind)s a conclusion of %(unit)s, its own "
            "unit: the follow-up desk of the tier above does"
        ),
        actor=actor.id,
        kind=kind.value,
        unit=holder,
    )


def call_back(case: WorkflowState, rating: int, now: datetime) -> bool:
    """差评回访: a bad rating given after the close falls due for the desk's call back, as a
    resolution's follow-up does (policies pinned with the rule). Whether it does."""
    policy = case.policy
    if policy is None or not policy.bad_rating_callback_after_close or rating > BAD_RATING:
        return False
    after_resolution(case, now)
    case.calling_back = True
    return True


def takes_calls(case: WorkflowState) -> bool:
    """Whether the desk's calls are recorded now: after a resolution, or on a closed request
    a bad rating's call back (差评回访)."""
    return case.state is State.RESOLVED or case.calling_back


def clear(case: WorkflowState) -> None:
    case.follow_up_due_at = None
    case.follow_up_attempts = 0
    case.followed_up = False
    case.last_unreachable_at = None


def record(case: WorkflowState, outcome: FollowUpOutcome, now: datetime) -> int:
    """Count the call; return its attempt number (``followed_up`` once it is settled)."""
    assert case.policy is not None
    case.follow_up_attempts += 1
    if outcome is FollowUpOutcome.UNREACHABLE:
        case.last_unreachable_at = now
    settled = outcome is not FollowUpOutcome.UNREACHABLE
    if settled or case.follow_up_attempts >= case.policy.follow_up_attempts:
        case.followed_up = True
    elif (hours := case.policy.follow_up_spacing_hours) is not None:
        # the next call falls due once it may be made: the desk's list does not show a late
        # follow-up it may not call yet (the due time is the list's, no clock's)
        cal = case.policy.calendar
        next_call = add_business_seconds(now, round(hours * 3600), cal)
        if case.follow_up_due_at is None or next_call > case.follow_up_due_at:
            case.follow_up_due_at = next_call
    return case.follow_up_attempts


def awaited(case: WorkflowState) -> bool:
    """Whether the request stays open for its follow-up: a resolution's, under policies that
    close the loop with it, or a bad rating's (policies that say so)."""
    policy = case.policy
    if policy is None or case.followed_up:
        return False
    if policy.close_waits_for_follow_up and case.follow_up_due_at is not None:
        return True
    return (
        policy.bad_rating_needs_follow_up and case.rating is not None and case.rating <= BAD_RATING
    )
