"""退单, 延期, 挂起 applications: who may ask and decide, when, and the clock changes. Pure.

A unit applies; a supervisor of a tier above (for a return also its dispatch desk, 派单员), or
an admin, decides. One application of each kind is open at a time; when the request moves on
first (an escalation, say), the open ones lapse undecided.
"""

from __future__ import annotations

from datetime import datetime

from schemas import permissions
from schemas.domain import ClockKind, Role, Tier
from schemas.lifecycle import ActionKind, ActionRequest, Application, SlaClock, WorkflowState
from schemas.messages import N_, Said
from schemas.request import Actor
from workflows import clocks, records
from workflows.business_time import (
    add_business_seconds,
    business_day_seconds,
    business_seconds_between,
)

MAX_APPLICATIONS = 50  # newest kept in the workflow's state; the audit trail keeps every one

ASKS = {
    ActionKind.APPROVE_RETURN: ActionKind.RETURN,
    ActionKind.REFUSE_RETURN: ActionKind.RETURN,
    ActionKind.APPROVE_EXTENSION: ActionKind.REQUEST_EXTENSION,
    ActionKind.REFUSE_EXTENSION: ActionKind.REQUEST_EXTENSION,
    ActionKind.APPROVE_SUSPENSION: ActionKind.SUSPEND,
    ActionKind.REFUSE_SUSPENSION: ActionKind.SUSPEND,
}
APPROVALS = frozenset(
    {ActionKind.APPROVE_RETURN, ActionKind.APPROVE_EXTENSION, ActionKind.APPROVE_SUSPENSION}
)
NAMES = {
    ActionKind.RETURN: "return",
    ActionKind.REQUEST_EXTENSION: "extension",
    ActionKind.SUSPEND: "suspension",
}
# Refusals are catalog messages (``Said``): English here, read in a person's language later.
NO_APPLICATION = {
    ActionKind.RETURN: N_("cannot %(kind)s: no return is waiting for a decision"),
    ActionKind.REQUEST_EXTENSION: N_("cannot %(kind)s: no extension is waiting for a decision"),
    ActionKind.SUSPEND: N_("cannot %(kind)s: no suspension is waiting for a decision"),
}
EXTENSION_REFUSALS = {  # by deciding: asking for an extension, or approving one
    False: {
        "not_running": N_("cannot ask for an extension: the resolution clock is not running"),
        "passed": N_("cannot ask for an extension: the deadline passed at %(at)s"),
        "count": N_(
            "cannot ask for an extension: %(granted)d already approved, the policy allows %(most)d"
        ),
        "days": N_(
            "cannot ask for an extension of %(days)d working days: %(used)d already approved, "
            "the policy allows %(most)d in all"
        ),
    },
    True: {
        "not_running": N_("cannot approve an extension: the resolution clock is not running"),
        "passed": N_("cannot approve an extension: the deadline passed at %(at)s"),
        "count": N_(
            "cannot approve an extension: %(granted)d already approved, the policy allows %(most)d"
        ),
        "days": N_(
            "cannot approve an extension of %(days)d working days: %(used)d already approved, "
            "the policy allows %(most)d in all"
        ),
    },
}


def pending(case: WorkflowState, kind: ActionKind) -> Application | None:
    """The open application of ``kind`` (return or request_extension), if any."""
    for app in reversed(case.applications):
        if app.kind is kind and app.pending:
            return app
    return None


# Steps that would take the request out of the held states in which a return is decided
WAIT_FOR_RETURN = frozenset({ActionKind.REQUEST_INFO, ActionKind.SUSPEND})


def return_holds(case: WorkflowState, kind: ActionKind) -> str | None:
    """Why ``kind`` waits while the unit's return (退单) waits for its decision: asking the
    enterprise or suspending would put the request where the desk could not decide it."""
    if kind not in WAIT_FOR_RETURN or pending(case, ActionKind.RETURN) is None:
        return None
    return Said(
        N_("cannot %(kind)s: the unit's return (退单) waits for a decision, which comes first"),
        kind=kind.value,
    )


def return_first(case: WorkflowState, kind: ActionKind) -> str | None:
    """Why a step waits, or is the wrong one, while the unit's 退单 waits for its decision:
    approving a 挂起 asked before it (a suspended request is out of the held states in which
    the desk decides the return; refusing the 挂起 is not held up), and reassigning (改派),
    which the return's approval does with its accounting (the stay ``returned``, counted in
    考核), where a reassignment left the return to lapse."""
    if kind not in (ActionKind.APPROVE_SUSPENSION, ActionKind.REASSIGN):
        return None
    if pending(case, ActionKind.RETURN) is None:
        return None
    if kind is ActionKind.REASSIGN:
        return Said(
            N_(
                "cannot reassign: the unit's return (退单) waits for a decision; approve it "
                "naming the unit to send the request to (approve_return with institution_id), "
                "or refuse it"
            )
        )
    return Said(
        N_(
            "cannot approve the suspension: the unit's return (退单) waits for the dispatch "
            "desk's decision, which comes first"
        )
    )


def refusal(case: WorkflowState, action: ActionRequest, now: datetime) -> str | None:
    """Why this return, extension or decision cannot be taken now; None if it can."""
    kind = action.kind
    if kind is ActionKind.RETURN:
        return _return_refusal(case, now)
    if kind is ActionKind.REQUEST_EXTENSION:
        assert action.days is not None
        return _extension_refusal(case, action.days, now)
    if kind is ActionKind.SUSPEND:
        assert action.days is not None
        return _suspension_refusal(case, action.days)
    asked = ASKS.get(kind)
    if asked is None:
        return None
    app = pending(case, asked)
    if app is None:
        return Said(NO_APPLICATION[asked], kind=kind.value)
    holder = case.institution.id if case.institution else None
    if kind is ActionKind.APPROVE_RETURN and action.institution_id == holder:
        return Said(
            N_("cannot approve the return: name an institution other than %(holder)s"),
            holder=str(holder),
        )
    if kind is ActionKind.APPROVE_EXTENSION:
        assert app.days is not None
        return _extension_refusal(case, app.days, now, deciding=True)
    return None


def ask(case: WorkflowState, action: ActionRequest, now: datetime) -> Application:
    """Record a unit's application."""
    app = Application(
        kind=action.kind,
        tier=case.tier,
        institution_id=case.institution.id if case.institution else "",
        asked_by=action.actor.id,
        asked_at=now,
        text=action.text or "",
        return_reason=action.return_reason,
        suspend_reason=action.suspend_reason,
        days=action.days,
        decide_by=_decide_by(case, now),
    )
    case.applications.append(app)
    del case.applications[:-MAX_APPLICATIONS]
    return app


def _decide_by(case: WorkflowState, asked_at: datetime) -> datetime | None:
    """When the tier above should decide an application asked at ``asked_at`` (None: the
    pinned policy predates the deadline)."""
    policy = case.policy
    if policy is None or policy.decision_days is None:
        return None
    cal = policy.calendar
    return add_business_seconds(asked_at, policy.decision_days * business_day_seconds(cal), cal)


def decision_due(case: WorkflowState) -> datetime | None:
    """The earliest deadline of a pending application not yet reminded (None: none)."""
    dues = [a.decide_by for a in case.applications if _reminder_ahead(a) and a.decide_by]
    return min(dues) if dues else None


def overdue_decisions(case: WorkflowState, now: datetime) -> list[Application]:
    """Pending applications past their decision deadline, not reminded yet."""
    return [
        a for a in case.applications if _reminder_ahead(a) and a.decide_by and a.decide_by <= now
    ]


def _reminder_ahead(app: Application) -> bool:
    return app.pending and app.overdue_at is None


def decide(case: WorkflowState, action: ActionRequest, now: datetime) -> Application:
    """Record the decision on the open application the action answers."""
    app = pending(case, ASKS[action.kind])
    assert app is not None
    app.decided_by = action.actor.id
    app.decided_at = now
    app.approved = action.kind in APPROVALS
    app.decision_text = action.text
    return app


# Applications that move or stop the resolution clock: a missed deadline where the request
# stays (supervised in place, or at the top tier) ends them, as a move does; no decision could
# apply one to a clock that stopped.
CLOCK_BOUND = frozenset({ActionKind.REQUEST_EXTENSION, ActionKind.SUSPEND})


def lapse(
    case: WorkflowState, now: datetime, why: str, kinds: frozenset[ActionKind] | None = None
) -> None:
    """The request moved on: open applications (of ``kinds``; None: all) lapse undecided."""
    for app in case.applications:
        if app.pending and (kinds is None or app.kind in kinds):
            app.decided_at, app.decision_text = now, why


def clock_bound_pending(case: WorkflowState) -> bool:
    return any(app.pending and app.kind in CLOCK_BOUND for app in case.applications)


def extend(case: WorkflowState, days: int, now: datetime) -> datetime | None:
    """Add ``days`` working days to this tier's resolution clock; return its new deadline."""
    assert case.policy is not None
    cal = case.policy.calendar
    clock = _resolution_clock(case)
    assert clock is not None
    extra = days * business_day_seconds(cal)
    clock.target_seconds += extra
    clock.extended_seconds += extra
    if clocks.is_running(clock):
        assert clock.running_since is not None
        remaining = clock.target_seconds - clock.consumed_seconds
        clock.deadline = add_business_seconds(clock.running_since, remaining, cal)
    return clock.deadline


def approved_extensions(case: WorkflowState) -> list[Application]:
    """The approved extensions the caps count: the holding unit's since it got the request
    (``extensions_per_stay``: each adds to its own resolution clock), else every one."""
    since = None
    if case.policy is not None and case.policy.extensions_per_stay and case.holds:
        since = case.holds[-1].since
    return [
        a
        for a in case.applications
        if a.kind is ActionKind.REQUEST_EXTENSION
        and a.approved
        and (since is None or a.asked_at >= since)
    ]


def _return_refusal(case: WorkflowState, now: datetime) -> str | None:
    assert case.policy is not None
    if pending(case, ActionKind.RETURN):
        return Said(N_("cannot return: a return is already waiting for the dispatcher's decision"))
    return _window_refusal(case, case.holds[-1].since, now) if case.holds else None


def _window_refusal(case: WorkflowState, since: datetime, now: datetime) -> str | None:
    """Why a return is too late: the policy's return window from ``since`` ended."""
    assert case.policy is not None
    window, cal = case.policy.return_window_seconds, case.policy.calendar
    if window is None or business_seconds_between(since, now, cal) <= window:
        return None
    until = add_business_seconds(since, window, cal)
    return Said(N_("cannot return: the return window ended at %(at)s"), at=until.isoformat())


def return_until(case: WorkflowState) -> datetime | None:
    """Until when the holding unit may return the request (退单), for its page to say (None:
    its policy sets no return window): the window from its stay's start, a redo's (重办)
    from the dispatch it redoes, the earlier of the two ends the refusals check."""
    since = stay_since(case)
    if case.policy is None or case.policy.return_window_seconds is None or since is None:
        return None
    window, cal = case.policy.return_window_seconds, case.policy.calendar
    return add_business_seconds(since, window, cal)


def stay_since(case: WorkflowState) -> datetime | None:
    """When the holding unit was given the request: its hold's start, or for a redo (重办)
    the start of the hold it concluded, before any redo of it (a redo is no new dispatch)."""
    if not case.holds:
        return None
    since = case.holds[-1].since
    for before, after in zip(reversed(case.holds[:-1]), reversed(case.holds[1:]), strict=True):
        if before.left_by != "resolved" or before.institution_id != after.institution_id:
            break
        since = before.since
    return since


def redo_return_refusal(case: WorkflowState, now: datetime) -> str | None:
    """A return of a redo (重办) after the window from its dispatch ended; checked before
    acceptance only, so returns accepted before this rule replay as they were."""
    since = stay_since(case)
    if since is None or since == case.holds[-1].since:  # no redo: the window of the hold
        return None
    return _window_refusal(case, since, now)


def suspend(case: WorkflowState, days: int, now: datetime) -> datetime:
    """Stop the clocks for at most ``days`` working days; return when handling resumes."""
    assert case.policy is not None
    cal = case.policy.calendar
    case.paused_at = now
    for clock in records.current_clocks(case):
        clocks.pause(clock, now, cal)
    case.suspended_until = add_business_seconds(now, days * business_day_seconds(cal), cal)
    return case.suspended_until


def _suspension_refusal(case: WorkflowState, days: int) -> str | None:
    assert case.policy is not None
    if pending(case, ActionKind.SUSPEND):
        return Said(N_("cannot suspend: a suspension is already waiting for a decision"))
    most = case.policy.suspension_max_days
    if days > most:
        return Said(
            N_("cannot suspend for %(days)d working days: the policy allows %(most)d at most"),
            days=days,
            most=most,
        )
    return None


def _extension_refusal(
    case: WorkflowState, days: int, now: datetime, *, deciding: bool = False
) -> str | None:
    assert case.policy is not None
    policy, said = case.policy, EXTENSION_REFUSALS[deciding]
    if not deciding and pending(case, ActionKind.REQUEST_EXTENSION):
        return Said(N_("cannot ask for an extension: one is already waiting for a decision"))
    clock = _resolution_clock(case)
    if clock is None or clock.breached or clock.stopped_at is not None:
        return Said(said["not_running"])
    if clock.deadline is not None and clock.deadline <= now:
        return Said(said["passed"], at=clock.deadline.isoformat())
    granted = approved_extensions(case)
    if len(granted) >= policy.extension_max_count:
        return Said(said["count"], granted=len(granted), most=policy.extension_max_count)
    used = sum(a.days or 0 for a in granted)
    if used + days > policy.extension_max_days:
        return Said(said["days"], days=days, used=used, most=policy.extension_max_days)
    return None


def _resolution_clock(case: WorkflowState) -> SlaClock | None:
    """This tier's newest resolution clock (a reopen starts another)."""
    for clock in reversed(records.tier_clocks(case)):
        if clock.kind is ClockKind.RESOLUTION:
            return clock
    return None


def askable(case: WorkflowState, kind: ActionKind, now: datetime) -> bool:
    """Whether a unit could ask ``kind`` now, for the least it may ask (one day): the return
    window still open, a resolution clock running with its deadline ahead and extensions
    left; the console offers only these (the workflow refuses the rest)."""
    if case.policy is None:  # not admitted yet: nothing to measure by
        return True
    if kind is ActionKind.RETURN:
        return _return_refusal(case, now) is None and redo_return_refusal(case, now) is None
    if kind is ActionKind.REQUEST_EXTENSION:
        return _extension_refusal(case, 1, now) is None
    if kind is ActionKind.SUSPEND:
        return _suspension_refusal(case, 1) is None
    return True


def offered(case: WorkflowState, kind: ActionKind) -> bool:
    """Whether ``kind`` fits the open applications (the console offers only these)."""
    if kind in NAMES:
        return pending(case, kind) is None
    asked = ASKS.get(kind)
    return asked is None or pending(case, asked) is not None


# 申诉: decided, as the unit's applications are, by a tier above the unit (here the rated one)
APPEAL_DECISIONS = frozenset({ActionKind.UPHOLD_APPEAL, ActionKind.REJECT_APPEAL})


def decider_refusal(
    actor: Actor, kind: ActionKind, tier: Tier, unit: str | None = None
) -> str | None:
    """A supervisor (for a return also the dispatch desk) of a tier above the unit's decides,
    the national one at the top; the role table says which kinds each may decide. Given the
    ``unit`` (the holder; for an appeal the rated unit, and ``tier`` its tier), never one of
    the unit itself, and an appeal too (rules added later: ``ServiceRequestWorkflow`` checks
    them apart, so that runs that applied such a step before replay as they were)."""
    appeal = kind in APPEAL_DECISIONS and unit is not None
    if (kind not in ASKS and not appeal) or actor.role is Role.ADMIN:
        return None
    if unit is not None and actor.institution_id == unit:
        return Said(
            N_(
                "cannot %(kind)s: %(unit)s does not decide for itself; a supervisor or desk "
                "above it does (at the national tier, one of another unit)"
            ),
            kind=kind.value,
            unit=unit,
        )
    if actor.role in (Role.SUPERVISOR, Role.DISPATCHER) and actor.tier is not None:
        if permissions.oversees(actor.tier, tier):
            return None
        above = N_(
            "cannot %(kind)s: a %(actor_tier)s %(role)s does not decide for the %(tier)s "
            "tier; a supervisor of a tier above does"
        )
        if kind in permissions.DISPATCHER_ACTIONS:  # a return's or an extension's
            above = N_(
                "cannot %(kind)s: a %(actor_tier)s %(role)s does not decide for the %(tier)s "
                "tier; a supervisor or the dispatch desk of a tier above does"
            )
        return Said(
            above,
            kind=kind.value,
            actor_tier=actor.tier.value,
            role=actor.role.value,
            tier=tier.value,
        )
    return Said(
        N_("cannot %(kind)s: only a supervisor of a tier above %(tier)s decides"),
        kind=kind.value,
        tier=tier.value,
    )
