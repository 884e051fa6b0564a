"""An action refused while an operator hold stood, sent again once the hold is released.

An action the workflow accepted and then found held (it arrived while the request was being
routed, and routing failed for good) is refused ``NeedsOperator`` in its handler, and the server
keeps that outcome under the action's update id: sending the same action again, after an
operator released the hold, was answered with the old refusal for ever. The callers (the Kafka
ingress, the API) send it again under an update id of its own when the refusal came from a
hold that no longer stands; the workflow still takes an action id once (``case.results``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas.lifecycle import ActionRequest, RequestView

T = TypeVar("T")

RESENDS = 3  # holds in a row one action may meet (each released) before its refusal stands
NEEDS_OPERATOR = "NeedsOperator"  # the workflow's refusal type (``_check_operator``)


def update_ids(action: ActionRequest) -> list[str]:
    """The update ids an action is sent under, in turn: its own, then one per released hold."""
    own = action.update_id()
    return [own, *(f"{own}~after-hold-{n}" for n in range(1, RESENDS + 1))]


async def refused_by_a_released_hold(
    handle: WorkflowHandle, refusal: WorkflowUpdateFailedError
) -> bool:
    """Whether ``refusal`` is a hold's and the request waits for no operator now."""
    cause = refusal.cause
    if not (isinstance(cause, ApplicationError) and cause.type == NEEDS_OPERATOR):
        return False
    view = await handle.query("view", result_type=RequestView)
    return view.operator is None


async def send(
    handle: WorkflowHandle, action: ActionRequest, update: Callable[[str], Awaitable[T]]
) -> T:
    """``update(update_id)`` under the action's own update id, and again under the next one
    each time it comes back refused by a hold that has been released."""
    *ids, last = update_ids(action)
    for update_id in ids:
        try:
            return await update(update_id)
        except WorkflowUpdateFailedError as exc:
            if not await refused_by_a_released_hold(handle, exc):
                raise
    return await update(last)
