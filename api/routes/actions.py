"""Caseworker actions: each one is a Temporal Update ``act`` whose id is the action id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path

from api.deps import Ctx, action_rate
from api.models import ActionBody, ErrorOut
from api.routes import API_PREFIX
from api.service import actions as service
from schemas.lifecycle import ActionKind, ActionResult
from schemas.request import REQUEST_ID_PATTERN
from tierflow.auth_store import Principal

router = APIRouter(prefix=f"{API_PREFIX}/requests", tags=["actions"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"},
    403: {"model": ErrorOut, "description": "The caller may not take this kind of action"},
    404: {"model": ErrorOut, "description": "Unknown request, or out of the caller's scope"},
    409: {"model": ErrorOut, "description": "The action does not fit the request's state"},
    429: {"model": ErrorOut, "description": "Rate limit exceeded (see Retry-After)"},
}


@router.post(
    "/{request_id}/actions/{kind}",
    response_model=ActionResult,
    responses=RESPONSES,
)
async def take_action(
    request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, max_length=64)],
    kind: ActionKind,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(action_rate)],
    body: Annotated[ActionBody | None, Body()] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=service.IDEMPOTENCY_KEY,
            description="Becomes the action id: a repeated key returns the first answer",
        ),
    ] = None,
) -> ActionResult:
    """Take an action as the caller (actor from the token) and answer with its result."""
    return await service.take_action(ctx, principal, request_id, kind, body, idempotency_key)
