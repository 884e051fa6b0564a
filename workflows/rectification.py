"""整改 and 申诉: a bad rating's rectification by the unit, and the unit's appeal. Pure.

A rating of 1 or 2 opens a rectification case owned by the unit that concluded the request,
due in the policy's working days and chased like any late step when it is not concluded in
time. The unit may appeal a rating it considers mistaken or malicious within the policy's
working days; a supervisor decides, within the policy's working days (policies that have the
deadline): an appeal still undecided then is reminded once, and a later decision is still
taken. An upheld appeal removes the rating from the statistics and ends the rectification.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.domain import Tier
from schemas.lifecycle import (
    BAD_RATING,
    ActionKind,
    ActionRequest,
    Actor,
    Rectification,
    Supervision,
    TierHold,
    WorkflowState,
)
from schemas.messages import N_, Said
from workflows.business_time import add_business_seconds, business_day_seconds

CLOCK = "rectification"
ACTIONS = frozenset(
    {
        ActionKind.CONCLUDE_RECTIFICATION,
        ActionKind.APPEAL_RATING,
        ActionKind.UPHOLD_APPEAL,
        ActionKind.REJECT_APPEAL,
    }
)
UNIT_STEPS = frozenset({ActionKind.CONCLUDE_RECTIFICATION, ActionKind.APPEAL_RATING})


def _days(case: WorkflowState, start: datetime, days: int) -> datetime:
    assert case.policy is not None
    cal = case.policy.calendar
    return add_business_seconds(start, days * business_day_seconds(cal), cal)


def open_for(case: WorkflowState, rating: int, now: datetime) -> Rectification | None:
    """Open the rectification a bad rating calls for (policies that have one)."""
    policy = case.policy
    if policy is None or policy.rectification_days is None or rating > BAD_RATING:
        return None
    case.rectification = Rectification(
        institution_id=case.institution.id if case.institution else "",
        rating=rating,
        opened_at=now,
        due_at=_days(case, now, policy.rectification_days),
        appeal_until=_days(case, now, policy.appeal_days),
    )
    return case.rectification


def active(case: WorkflowState) -> bool:
    """A rectification or an appeal still needs someone to act."""
    r = case.rectification
    return r is not None and (r.open or r.appeal_pending)


def overdue(case: WorkflowState, now: datetime) -> bool:
    r = case.rectification
    return r is not None and r.open and not r.reminded and r.due_at <= now


def decide_by(case: WorkflowState, appealed_at: datetime) -> datetime | None:
    """When a supervisor should decide an appeal filed at ``appealed_at`` (None: the pinned
    policy predates the deadline)."""
    assert case.policy is not None
    days = case.policy.appeal_decision_days
    return None if days is None else _days(case, appealed_at, days)


def appeal_due(case: WorkflowState) -> datetime | None:
    """The decision deadline of a pending appeal not yet reminded (None: nothing to remind)."""
    r = case.rectification
    if r is None or not r.appeal_pending or r.appeal_overdue_at is not None:
        return None
    return r.appeal_decide_by


def appeal_overdue(case: WorkflowState, now: datetime) -> bool:
    due = appeal_due(case)
    return due is not None and due <= now


def next_due(case: WorkflowState) -> datetime | None:
    r = case.rectification
    late = r.due_at if r is not None and r.open and not r.reminded else None
    dues = [d for d in (late, appeal_due(case)) if d is not None]
    return min(dues) if dues else None


def decided_above(
    r: Rectification | None,
    holds: Sequence[TierHold],
    kind: ActionKind,
    tier: Tier,
    holder: str | None,
) -> tuple[Tier, str | None]:
    """The tier and unit a decider must stand above: the holder's (``tier``, ``holder``); for
    an appeal of a rating, the rated unit's (the tier of its last stay: it concluded there)."""
    if r is None or kind not in (ActionKind.UPHOLD_APPEAL, ActionKind.REJECT_APPEAL):
        return tier, holder
    rated = next((h.tier for h in reversed(holds) if h.institution_id == r.institution_id), None)
    return rated or tier, r.institution_id


def rated_units_own_step(r: Rectification | None, actor: Actor, kind: ActionKind) -> bool:
    """Whether ``kind`` is the rated unit's own step (concluding its 整改, appealing) and
    ``actor`` is of that unit: its scope is the rectification, wherever the request has gone
    since (a redo moved up, say), as a co-handler's is its part."""
    return (
        r is not None
        and kind in UNIT_STEPS
        and actor.institution_id is not None
        and actor.institution_id == r.institution_id
    )


def owing_unit(case: WorkflowState, now: datetime) -> str | None:
    """The rated unit while it owes, or may still take, a step of its 整改: concluding it,
    appealing the rating (its window open), the outcome of its appeal, or a written reply to
    a 督办 of it; None when none is left (or there is no 整改). Judged at ``now``: a window
    that ends between two steps of the request ends at the next."""
    r = case.rectification
    if r is None:
        return None
    appealable = r.appealed_at is None and now <= r.appeal_until
    replying = any(_replies_for(r, s) for s in case.supervisions)
    return r.institution_id if r.open or r.appeal_pending or appealable or replying else None


def _replies_for(r: Rectification, s: Supervision) -> bool:
    return s.awaiting_reply and s.clock == CLOCK and s.institution_id == r.institution_id


def replies_elsewhere(case: WorkflowState, s: Supervision) -> bool:
    """Whether ``s`` waits for the rated unit's reply to a 督办 of its 整改 where another
    unit holds the request (整改督办待回复: that unit's worklist, not the holder's)."""
    r = case.rectification
    holder = case.institution.id if case.institution else None
    return r is not None and _replies_for(r, s) and s.institution_id != holder


def of_another_unit(r: Rectification, actor: Actor, kind: ActionKind) -> bool:
    """Whether a step of the unit's own (concluding the rectification, appealing) comes from
    someone of another unit."""
    return kind in UNIT_STEPS and actor.institution_id not in (None, r.institution_id)


def refusal(case: WorkflowState, action: ActionRequest, now: datetime) -> str | None:
    """Why this rectification or appeal step cannot be taken now; None if it can."""
    kind, r = action.kind, case.rectification
    if kind not in ACTIONS:
        return None
    if r is None:
        return Said(
            N_("cannot %(kind)s: the request has no rectification (no bad rating)"),
            kind=kind.value,
        )
    if of_another_unit(r, action.actor, kind):
        return Said(
            N_("cannot %(kind)s: the rectification belongs to %(institution)s"),
            kind=kind.value,
            institution=r.institution_id,
        )
    if kind is ActionKind.CONCLUDE_RECTIFICATION and not r.open:
        return Said(N_("cannot conclude the rectification: it is closed"))
    if kind is ActionKind.APPEAL_RATING:
        if r.appealed_at is not None:
            return Said(N_("cannot appeal: the rating was appealed already"))
        if now > r.appeal_until:
            return Said(
                N_("cannot appeal: the appeal window ended at %(at)s"),
                at=r.appeal_until.isoformat(),
            )
    if kind in (ActionKind.UPHOLD_APPEAL, ActionKind.REJECT_APPEAL) and not r.appeal_pending:
        return Said(N_("cannot %(kind)s: no appeal waits for a decision"), kind=kind.value)
    return None


def apply(case: WorkflowState, action: ActionRequest, now: datetime) -> Rectification:
    """Record the step on the rectification case."""
    r = case.rectification
    assert r is not None
    kind = action.kind
    if kind is ActionKind.CONCLUDE_RECTIFICATION:
        r.concluded_at, r.conclusion = now, action.text
    elif kind is ActionKind.APPEAL_RATING:
        r.appealed_at, r.appeal = now, action.text
    else:
        r.appeal_upheld = kind is ActionKind.UPHOLD_APPEAL
        r.decided_by, r.decided_at, r.decision = action.actor.id, now, action.text
        if r.appeal_upheld and r.open:
            r.concluded_at, r.conclusion = now, "appeal upheld: the rating no longer counts"
    return r
