"""The caller's in-app inbox (list, unread count, mark read) and notification preferences."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import Ctx, CurrentPrincipal
from api.models import ErrorOut
from api.routes import API_PREFIX
from api.service import notifications as service
from tierflow.db.notification_models import PreferencePublic

router = APIRouter(prefix=f"{API_PREFIX}/notifications", tags=["notifications"])
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}}


@router.get("", response_model=service.InboxPage, responses=ERRORS)
async def list_inbox(
    ctx: Ctx,
    principal: CurrentPrincipal,
    unread_only: Annotated[bool, Query(description="Only messages not marked read")] = False,
    limit: Annotated[int, Query(ge=1, le=200, description="Messages in this page")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skipped before it")] = 0,
) -> service.InboxPage:
    """The caller's inbox, newest first, with the unread count."""
    return await service.inbox(ctx, principal, unread_only, limit, offset)


@router.get("/unread-count", response_model=service.UnreadCount, responses=ERRORS)
async def unread_count(ctx: Ctx, principal: CurrentPrincipal) -> service.UnreadCount:
    """How many of the caller's inbox entries are unread."""
    return await service.unread(ctx, principal)


@router.post(
    "/{notification_id}/read",
    response_model=service.Marked,
    responses={**ERRORS, 404: {"model": ErrorOut}},
)
async def mark_read(
    ctx: Ctx, principal: CurrentPrincipal, notification_id: Annotated[int, Path(ge=1, le=2**62)]
) -> service.Marked:
    """Mark one entry of the caller's inbox read (repeating it changes nothing)."""
    return await service.mark_one(ctx, principal, notification_id)


@router.post("/read-all", response_model=service.Marked, responses=ERRORS)
async def mark_all_read(ctx: Ctx, principal: CurrentPrincipal) -> service.Marked:
    """Mark every unread entry of the caller's inbox read."""
    return await service.mark_all(ctx, principal)


@router.get("/preferences", response_model=PreferencePublic, responses=ERRORS)
async def get_preferences(ctx: Ctx, principal: CurrentPrincipal) -> PreferencePublic:
    """The caller's channels, addresses, language and digest choice."""
    return await service.preferences(ctx, principal)


@router.put("/preferences", response_model=PreferencePublic, responses=ERRORS)
async def put_preferences(
    body: service.PreferenceUpdate, ctx: Ctx, principal: CurrentPrincipal
) -> PreferencePublic:
    """Change the fields given; the others stay."""
    return await service.update_preferences(ctx, principal, body)
