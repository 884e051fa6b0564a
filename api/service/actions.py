"""Caseworker actions: each one is a Temporal Update ``act`` whose id is the action id."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import HTTPException, status
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import action_refusal
from api.deps import ApiContext
from api.errors import RETRY_AFTER_SECONDS, Refused, field_error, validation_http_error
from api.lookup import Sight, find_in_scope
from api.models import ActionBody
from schemas.domain import Role
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    ActionResult,
    missing_field,
    rating_text_missing,
)
from schemas.messages import N_, Said
from tierflow import held_actions
from tierflow.auth_store import Principal
from tierflow.constants import workflow_id
from tierflow.db import repository
from tierflow.updates import NoAnswer, execute_update, is_busy
from whatif.trail import same_action
from workflows.refusals import field_of, reason_of
from workflows.service_request import ServiceRequestWorkflow

IDEMPOTENCY_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


async def take_action(
    ctx: ApiContext,
    principal: Principal,
    request_id: str,
    kind: ActionKind,
    body: ActionBody | None = None,
    idempotency_key: str | None = None,
) -> ActionResult:
    """Take an action as the caller (actor from the token) and answer with its result."""
    refusal = action_refusal(principal, kind)
    if refusal:
        raise Refused(status.HTTP_403_FORBIDDEN, refusal)
    found = await find_in_scope(ctx, principal, request_id, live=False)  # the workflow judges
    if found.sight is Sight.RECEIVED:  # 首问负责: followed, not handled, by the first unit
        said = N_(
            "your unit received request %(request)s first and may follow it; the unit that "
            "holds it now acts on it"
        )
        raise Refused(status.HTTP_403_FORBIDDEN, Said(said, request=request_id))
    body = body or ActionBody()
    _check_body(kind, body, principal.actor.role)
    try:
        action = ActionRequest(
            action_id=idempotency_key or f"api-{uuid.uuid4().hex}",
            kind=kind,
            actor=principal.actor,
            **body.model_dump(),
        )
    except ValidationError as exc:
        raise validation_http_error(exc, ("body",)) from None
    handle = ctx.temporal.get_workflow_handle(workflow_id(request_id))
    try:
        result = await _send(ctx, handle, action)
    except NoAnswer:
        ctx.metrics.actions.labels(kind.value, "pending").inc()
        raise _pending(ctx, request_id, action.action_id) from None
    except WorkflowUpdateFailedError as exc:
        ctx.metrics.actions.labels(kind.value, "refused").inc()
        raise _refusal(exc) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            earlier = None
            if idempotency_key:  # a key of the caller's: perhaps a retry
                earlier = await run_in_threadpool(answered_before, ctx, request_id, action)
            if earlier is not None:
                ctx.metrics.actions.labels(kind.value, "duplicate").inc()
                return earlier
            ctx.metrics.actions.labels(kind.value, "finished").inc()
            finished = N_("request %(id)r has finished; no more actions are possible")
            raise Refused(status.HTTP_409_CONFLICT, Said(finished, id=request_id)) from None
        if is_busy(exc):  # still continuing as new after the patience ran out
            busy = N_("request %(id)r is busy; retry with the same Idempotency-Key")
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                Said(busy, id=request_id),
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        raise
    ctx.metrics.actions.labels(kind.value, "duplicate" if result.duplicate else "ok").inc()
    return result


async def _send(ctx: ApiContext, handle: WorkflowHandle, action: ActionRequest) -> ActionResult:
    """The action's update; again under an id of its own when an operator hold that refused it
    has been released since (``tierflow.held_actions``: a retry with the same key was answered
    with that refusal for ever)."""

    async def update(update_id: str) -> ActionResult:
        result: ActionResult = await execute_update(
            handle,
            ServiceRequestWorkflow.act,
            action,
            id=update_id,
            result_type=ActionResult,
            wait=timedelta(seconds=ctx.limits.action_wait_seconds),
        )
        return result

    return await held_actions.send(handle, action, update)


def answered_before(ctx: ApiContext, request_id: str, action: ActionRequest) -> ActionResult | None:
    """The answer to ``action`` when the audit trail records it on the ended request.

    Temporal dedupes an Update id within one run: a retry whose first attempt applied in a
    run that then continued as new, and whose request has since ended, finds no workflow to
    ask. The records of the same action under its id (the same digest: kind, person and
    every field) answer it as the workflow did; another action reusing the id is not answered
    from them (the workflow refused it while it ran)."""
    with Session(ctx.engine) as session:
        rows = repository.action_transitions(session, request_id, action.action_id)
    if same_action(rows, action) is not True:  # none, another, or not to be read back
        return None
    last = rows[-1]
    return ActionResult(
        action_id=action.action_id,
        kind=action.kind,
        state=last.to_state,
        tier=last.to_tier,
        institution_id=last.institution_id,
        event_ids=[row.event_id for row in rows],
        duplicate=True,
    )


def _check_body(kind: ActionKind, body: ActionBody, role: Role) -> None:
    """Answer 422 naming the field when an action lacks what it needs."""
    missing = missing_field(kind, body, role) or rating_text_missing(kind, body, role)
    if missing:
        name, reason = missing
        raise field_error(("body", name), reason)


def _pending(ctx: ApiContext, request_id: str, action_id: str) -> HTTPException:
    """503 for an action without an answer in time: the request's records wait to be written
    (the database or Kafka is out), or its worker is away. The Update may still apply; the
    same Idempotency-Key brings its one result, never a second effect."""
    waited = f"{ctx.limits.action_wait_seconds:g}"
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"the action on request {request_id!r} has no answer after {waited} s and may still "
        f"apply; repeat it with Idempotency-Key {action_id!r} for its result (applied once)",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Idempotency-Key": action_id},
    )


def _refusal(exc: WorkflowUpdateFailedError) -> HTTPException:
    """Map the workflow's refusal to 403 (Forbidden), 422 (InvalidTarget, MissingField: the
    field it names) or 409 (the rest)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        reason = reason_of(cause)
        if cause.type == "Forbidden":
            return Refused(status.HTTP_403_FORBIDDEN, reason)
        if cause.type in ("InvalidTarget", "MissingField"):  # a name refused, a field missing
            field = field_of(cause) or "institution_id"  # a refusal without a detail
            return Refused(status.HTTP_422_UNPROCESSABLE_CONTENT, reason, field)
        return Refused(status.HTTP_409_CONFLICT, reason)
    return HTTPException(status.HTTP_409_CONFLICT, str(cause or exc))
