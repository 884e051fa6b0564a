"""When a paused request's pause ends at the latest: an approved suspension (挂起), or the
enterprise's time to reply (待企业补充). Pure: the SLA clocks (``workflows/sla.py``) wait for
it, and the request's summary shows it (``paused_until``) for the queues.
"""

from __future__ import annotations

from datetime import datetime

from schemas.domain import State
from schemas.lifecycle import WorkflowState
from workflows.business_time import add_business_seconds


def suspension_ends(case: WorkflowState) -> datetime | None:
    """When an approved suspension ends at the latest (None: not suspended)."""
    return case.suspended_until if case.state is State.SUSPENDED else None


def enterprise_wait_ends(case: WorkflowState) -> datetime | None:
    """When waiting for the enterprise's reply ends under the policy (None: no limit)."""
    policy = case.policy
    if policy is None or case.state is not State.AWAITING_ENTERPRISE or case.paused_at is None:
        return None
    if policy.enterprise_wait_max_seconds is None:
        return None
    return add_business_seconds(case.paused_at, policy.enterprise_wait_max_seconds, policy.calendar)


def pause_ends(case: WorkflowState) -> datetime | None:
    """When the request's pause ends at the latest, either kind (None: not paused, or no end)."""
    return suspension_ends(case) or enterprise_wait_ends(case)
