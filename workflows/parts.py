"""协办: co-handling units' parts of a request, their deadlines, and who may act on them. Pure.

The holding unit (主办) adds a co-handler for a part with a deadline in working days; the
co-handler signs for and concludes its part; the holding unit cannot conclude the request
while a part is open, unless a supervisor waives it. A part past its deadline reminds its unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.domain import Role
from schemas.lifecycle import ActionKind, ActionRequest, Actor, Institution, Part, WorkflowState
from schemas.messages import N_, Said
from workflows.business_time import add_business_seconds, business_day_seconds

PART_ACTIONS = frozenset(
    {
        ActionKind.ADD_CO_HANDLER,
        ActionKind.SIGN_FOR_PART,
        ActionKind.CONCLUDE_PART,
        ActionKind.WAIVE_PART,
    }
)
# Taken by the co-handling unit, which does not hold the request: scoped by its part.
CO_HANDLER_ACTIONS = frozenset({ActionKind.SIGN_FOR_PART, ActionKind.CONCLUDE_PART})


def open_parts(case: WorkflowState) -> list[Part]:
    return [p for p in case.parts if p.open]


def part_of(case: WorkflowState, action: ActionRequest) -> Part | None:
    """The open part the action is about: the one it names, or the actor's unit's."""
    return open_part(case.parts, action.institution_id or action.actor.institution_id)


def open_part(all_parts: Sequence[Part], institution: str | None) -> Part | None:
    """The institution's open part (a state's or a view's parts), if it has one."""
    return next((p for p in all_parts if p.open and p.institution_id == institution), None)


def co_handler_may(all_parts: Sequence[Part], actor: Actor, kind: ActionKind) -> bool:
    """Whether the actor's unit has the open part a co-handler's step acts on (not yet signed
    for, to sign for it). What the view offers; the workflow's checks word why not (and take
    a supervisor's step for a unit it names)."""
    part = open_part(all_parts, actor.institution_id)
    return part is not None and (kind is not ActionKind.SIGN_FOR_PART or part.signed_for_at is None)


def scope_refusal(case: WorkflowState, action: ActionRequest) -> str | None:
    """For a co-handler's action: why the actor is not of a unit with an open part."""
    if action.actor.role is not Role.CASEWORKER:
        return None  # supervisors, admins, system clients: the usual scope applies
    if part_of(case, action) is None:
        return Said(
            N_(
                "caseworker %(actor)s belongs to %(institution)s, which has no open part of "
                "this request"
            ),
            actor=action.actor.id,
            institution=str(action.actor.institution_id),
        )
    return None


def _listed(parts: list[Part]) -> Said:
    """The parts, each unit with its deadline, as one wording: a reader sees the deadlines in
    China's time and the list joined in their language (English: ``a (due …), b (due …)``)."""
    *rest, last = parts
    listed = _due(last)
    for part in reversed(rest):
        listed = Said(N_("%(one)s, %(more)s"), one=_due(part), more=listed)
    return listed


def _due(part: Part) -> Said:
    return Said(
        N_("%(institution)s (due %(at)s)"),
        institution=part.institution_id,
        at=part.due_at.isoformat(),
    )


def refusal(case: WorkflowState, action: ActionRequest) -> str | None:
    """Why this co-handling step (or concluding the request) cannot be taken now."""
    kind = action.kind
    if kind is ActionKind.RESOLVE and (parts := open_parts(case)):
        return Said(
            N_(
                "cannot resolve: co-handling parts are open: %(parts)s; the co-handler "
                "concludes its part or a supervisor waives it"
            ),
            parts=_listed(parts),
        )
    if kind is ActionKind.ADD_CO_HANDLER:
        holder = case.institution.id if case.institution else None
        if action.institution_id == holder:
            return Said(
                N_("cannot add a co-handler: %(holder)s holds the request"), holder=str(holder)
            )
        if any(p.institution_id == action.institution_id for p in open_parts(case)):
            return Said(
                N_("cannot add a co-handler: %(institution)s has an open part already"),
                institution=str(action.institution_id),
            )
        return None
    if kind not in PART_ACTIONS:
        return None
    part = part_of(case, action)
    if part is None:
        who = action.institution_id or action.actor.institution_id
        return Said(
            N_("cannot %(kind)s: %(institution)s has no open part of this request"),
            kind=kind.value,
            institution=str(who),
        )
    if kind is ActionKind.SIGN_FOR_PART and part.signed_for_at is not None:
        return Said(
            N_("cannot sign for the part: %(institution)s signed for it already"),
            institution=part.institution_id,
        )
    return None


def add(case: WorkflowState, action: ActionRequest, unit: Institution, now: datetime) -> Part:
    """Record a co-handler's part, due ``action.days`` working days from now."""
    assert case.policy is not None and action.days is not None
    cal = case.policy.calendar
    part = Part(
        institution_id=unit.id,
        name=unit.name,
        text=action.text or "",
        added_by=action.actor.id,
        added_at=now,
        due_at=add_business_seconds(now, action.days * business_day_seconds(cal), cal),
    )
    case.parts.append(part)
    return part


def settle(case: WorkflowState, action: ActionRequest, now: datetime) -> Part:
    """Apply a co-handler's or supervisor's step to its part."""
    part = part_of(case, action)
    assert part is not None
    if action.kind is ActionKind.SIGN_FOR_PART:
        part.signed_for_at = now
    elif action.kind is ActionKind.CONCLUDE_PART:
        part.signed_for_at = part.signed_for_at or now
        part.concluded_at, part.conclusion = now, action.text
    else:  # waived
        part.waived_by = action.actor.id
    return part


def end(case: WorkflowState, event: str) -> list[str]:
    """The request ended (``event``: withdrawn, rejected, closed) with parts open: they end
    with it, so their units no longer see it. Returns those units."""
    ended = open_parts(case)
    for part in ended:
        part.ended_by = event
    return [p.institution_id for p in ended]


def next_due(case: WorkflowState) -> datetime | None:
    """The earliest deadline of an open part nobody was reminded of yet."""
    dues = [p.due_at for p in open_parts(case) if not p.reminded]
    return min(dues) if dues else None


def overdue(case: WorkflowState, now: datetime) -> list[Part]:
    """Open parts past their deadline, not yet reminded."""
    return [p for p in open_parts(case) if not p.reminded and p.due_at <= now]
