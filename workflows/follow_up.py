"""回访: the follow-up desk's call after a resolution, and a bad rating waiting for it. Pure."""

from __future__ import annotations

from datetime import datetime

from schemas.lifecycle import FollowUpOutcome, WorkflowState
from workflows.business_time import add_business_seconds, business_day_seconds

BAD_RATING = 2  # 不满意 (2) and 非常不满意 (1): the follow-up is mandatory


def after_resolution(case: WorkflowState, now: datetime) -> None:
    """A resolution's follow-up falls due the policy's working days later."""
    assert case.policy is not None
    cal = case.policy.calendar
    days = case.policy.follow_up_after_days
    case.follow_up_due_at = add_business_seconds(now, days * business_day_seconds(cal), cal)
    case.follow_up_attempts = 0
    case.followed_up = False


def clear(case: WorkflowState) -> None:
    case.follow_up_due_at = None
    case.follow_up_attempts = 0
    case.followed_up = False


def record(case: WorkflowState, outcome: FollowUpOutcome) -> int:
    """Count the call; return its attempt number (``followed_up`` once it is settled)."""
    assert case.policy is not None
    case.follow_up_attempts += 1
    settled = outcome is not FollowUpOutcome.UNREACHABLE
    if settled or case.follow_up_attempts >= case.policy.follow_up_attempts:
        case.followed_up = True
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
