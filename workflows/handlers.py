"""承办人: who inside the holding unit handles the request, and who may change that. Pure.

A caseworker claims an unhandled request (signing for it claims it too); the unit's lead
(a supervisor) assigns it to anyone of the unit; the handler transfers it to a colleague.
That the named person is a caseworker of the unit is checked against the user accounts
(the ``check_handler`` activity) before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.domain import Role
from schemas.lifecycle import ActionKind, ActionRequest, Actor, TierHold, WorkflowState
from schemas.messages import N_, Said

HANDLER_ACTIONS = frozenset({ActionKind.CLAIM, ActionKind.ASSIGN_HANDLER, ActionKind.TRANSFER})


def current(case: WorkflowState) -> str | None:
    """The caseworker handling the request in the holding unit (None: nobody yet)."""
    return handler_of(case.holds)


def handler_of(holds: Sequence[TierHold]) -> str | None:
    """The handler in the last hold (a state's or a view's holds)."""
    return holds[-1].handler if holds else None


def may_transfer(handler: str | None, actor: Actor) -> bool:
    """A caseworker transfers only what they handle; a supervisor or admin any handled one."""
    return handler is not None and (actor.role is not Role.CASEWORKER or actor.id == handler)


def new_handler(action: ActionRequest) -> str:
    """Who handles the request after ``action`` (the claimer, or the one it names)."""
    if action.kind is ActionKind.CLAIM:
        return action.actor.id
    assert action.handler_id is not None
    return action.handler_id


def refusal(case: WorkflowState, action: ActionRequest) -> str | None:
    """Why this claim, assignment or transfer cannot be made now; None if it can."""
    kind = action.kind
    if kind not in HANDLER_ACTIONS:
        return None
    handler, actor = current(case), action.actor
    if new_handler(action) == handler:
        return Said(
            N_("cannot %(kind)s: %(handler)s already handles it"),
            kind=kind.value,
            handler=str(handler),
        )
    if kind is ActionKind.CLAIM and handler is not None:
        return Said(
            N_(
                "cannot claim: %(handler)s handles it; the unit's lead assigns it or "
                "%(handler)s transfers it"
            ),
            handler=handler,
        )
    if kind is ActionKind.TRANSFER:
        if handler is None:
            return Said(N_("cannot transfer: nobody handles it yet; claim it first"))
        if not may_transfer(handler, actor):
            return Said(
                N_("cannot transfer: %(handler)s handles it, not %(actor)s"),
                handler=handler,
                actor=actor.id,
            )
    return None
