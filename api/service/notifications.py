"""The caller's inbox and notification preferences (the API routes and the console share it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from api.deps import ApiContext
from schemas.edge import check_email, sms_number
from schemas.messages import N_, Said, TranslatableError
from tierflow import notification_store as store
from tierflow.auth_store import Principal
from tierflow.db.notification_models import LOCALES, PreferencePublic


def _email(value: str | None) -> str | None:
    return check_email(value) or None


def _phone(value: str | None) -> str | None:
    """A number text messages can go to, kept in E.164 (as the enterprise's contact is sent)."""
    if not value:
        return None
    number = sms_number(value)
    if number is None:
        raise TranslatableError(
            N_("must be a mobile number such as 13800000000 or +8613800000000: texts go to it")
        )
    return number


def _locale(value: str | None) -> str | None:
    if value is not None and value not in LOCALES:
        raise TranslatableError(N_("must be one of: %(choices)s"), choices=", ".join(LOCALES))
    return value


class InboxItem(BaseModel):
    """One in-app notification."""

    id: int
    request_id: str
    event_id: str
    event_type: str
    rule: str
    urgent: bool
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


class InboxPage(BaseModel):
    items: list[InboxItem]
    unread: int = Field(description="Unread entries in the whole inbox (the badge)")


class UnreadCount(BaseModel):
    unread: int


class Marked(BaseModel):
    marked: int = Field(description="Entries that were unread and are read now")


NOT_NULL = ("locale", "inbox", "email_enabled", "sms_enabled", "digest")


class PreferenceUpdate(BaseModel):
    """Fields to change; those left out stay as they are. Empty text clears an address."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is named, not dropped

    email: Annotated[str | None, Field(max_length=200), AfterValidator(_email)] = None
    phone: Annotated[str | None, Field(max_length=40), AfterValidator(_phone)] = None
    locale: Annotated[str | None, AfterValidator(_locale)] = None
    inbox: bool | None = None
    email_enabled: bool | None = None
    sms_enabled: bool | None = None
    digest: bool | None = Field(default=None, description="One mail per period, not one each")

    @model_validator(mode="before")
    @classmethod
    def _no_null_settings(cls, data: Any) -> Any:
        """Only addresses can be cleared; a setting sent as null is refused, not stored."""
        if isinstance(data, dict):
            nulls = sorted(k for k in NOT_NULL if k in data and data[k] is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: may not be null (leave out to keep)")
        return data


async def inbox(
    ctx: ApiContext, principal: Principal, unread_only: bool, limit: int, offset: int
) -> InboxPage:
    rows = await run_in_threadpool(
        store.list_inbox,
        ctx.engine,
        principal.user_id,
        unread_only=unread_only,
        limit=limit,
        offset=offset,
    )
    unread = await run_in_threadpool(store.count_unread, ctx.engine, principal.user_id)
    items = [InboxItem.model_validate(r, from_attributes=True) for r in rows]
    return InboxPage(items=items, unread=unread)


async def unread(ctx: ApiContext, principal: Principal) -> UnreadCount:
    return UnreadCount(
        unread=await run_in_threadpool(store.count_unread, ctx.engine, principal.user_id)
    )


async def mark_one(ctx: ApiContext, principal: Principal, notification_id: int) -> Marked:
    """Mark one entry read; 404 if it is not in the caller's inbox."""
    if not await run_in_threadpool(store.owns, ctx.engine, principal.user_id, notification_id):
        missing = N_("notification %(id)d: not in your inbox")
        raise HTTPException(status.HTTP_404_NOT_FOUND, Said(missing, id=notification_id))
    marked = await run_in_threadpool(
        store.mark_read, ctx.engine, principal.user_id, ctx.clock(), [notification_id]
    )
    return Marked(marked=marked)


async def mark_all(ctx: ApiContext, principal: Principal) -> Marked:
    marked = await run_in_threadpool(store.mark_read, ctx.engine, principal.user_id, ctx.clock())
    return Marked(marked=marked)


async def preferences(ctx: ApiContext, principal: Principal) -> PreferencePublic:
    return await run_in_threadpool(store.get_preference, ctx.engine, principal.user_id)


async def update_preferences(
    ctx: ApiContext, principal: Principal, body: PreferenceUpdate
) -> PreferencePublic:
    values = body.model_dump(exclude_unset=True)
    return await run_in_threadpool(
        store.set_preference, ctx.engine, principal.user_id, values, ctx.clock()
    )
