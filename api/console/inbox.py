"""The console's inbox (通知) and notification preferences (通知设置) pages.

They read and write through ``api.service.notifications``, the service the API routes use.
The badge in every page's navigation calls ``unread_count(request, user)``, a template global
this module adds to the console's templates.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.console import language
from api.console.forms import field_errors, form_text
from api.console.routes import User, error_page, gettext, redirect, render
from api.console.session import check_csrf, session_token
from api.console.views import Pages
from api.deps import Ctx
from api.service import notifications as service
from schemas.edge import sms_number
from tierflow.auth_store import Principal
from tierflow.db.notification_models import LOCALES
from tierflow.i18n import N_, Said
from tierflow.notification_store import count_unread

router = APIRouter(prefix="/console", include_in_schema=False)
SWITCHES = ("inbox", "email_enabled", "sms_enabled", "digest")
NOTIFICATION_ID = re.compile(r"[0-9]{1,18}")  # a row's number (ASCII digits, fits BIGINT)


BADGE_MAX = 99  # the badge counts this far, then shows 99+


def unread_count(request: Request | None, user: Principal | None) -> int:
    """The signed-in user's unread inbox entries, up to ``BADGE_MAX`` + 1 (0 when nobody is
    signed in, or rendered outside a request)."""
    if user is None or not isinstance(request, Request):
        return 0
    return count_unread(request.app.state.ctx.engine, user.user_id, at_most=BADGE_MAX + 1)


language.add_global("unread_count", unread_count)


def _csrf(request: Request, form: Any) -> None:
    check_csrf(request, session_token(request), form_text(form.get("csrf_token")))


INBOX_ROWS = 100  # notifications on one page of the inbox
MAX_INBOX_PAGE = 1000


@router.get("/inbox")
async def inbox_page(
    request: Request, ctx: Ctx, user: User, unread: str = "", page: int = 1
) -> Response:
    """The user's notifications, newest first, ``INBOX_ROWS`` a page; unread ones marked."""
    number = Pages.clamp(page, MAX_INBOX_PAGE)
    unread_only = unread == "1"
    # one more than a page: whether a next page exists, without counting every entry
    found = await service.inbox(ctx, user, unread_only, INBOX_ROWS + 1, (number - 1) * INBOX_ROWS)
    more = len(found.items) > INBOX_ROWS
    found.items = found.items[:INBOX_ROWS]
    shown = {"unread": "1"} if unread_only else {}
    pages = Pages.at(
        number, MAX_INBOX_PAGE, more, lambda n: "/console/inbox?" + urlencode({**shown, "page": n})
    )
    context = {"active": "inbox", "page": found, "unread_only": unread_only, "pages": pages}
    return render(request, "inbox.html", context, user=user)


@router.post("/inbox/read")
async def mark_read(request: Request, ctx: Ctx, user: User) -> Response:
    """Mark one entry (``id``) or all of them read, then show the inbox again."""
    form = await request.form()
    try:
        _csrf(request, form)
        raw = form_text(form.get("id"))
        if raw:
            if not NOTIFICATION_ID.fullmatch(raw):
                raise HTTPException(422, Said(N_("id: must be a notification number")))
            await service.mark_one(ctx, user, int(raw))
        else:
            await service.mark_all(ctx, user)
    except HTTPException as exc:
        return error_page(request, user, exc)
    return redirect("/console/inbox")


async def _preferences(
    request: Request, ctx: Ctx, user: Principal, status_code: int = 200, **extra: Any
) -> Response:
    """The preferences page of ``user``, with what the caller adds (saved, errors)."""
    pref = await service.preferences(ctx, user)
    # a number saved before preferences took mobiles only: texts cannot go to it
    no_texts = bool(pref.phone) and sms_number(pref.phone) is None
    context = {
        "active": "preferences",
        "pref": pref,
        "locales": LOCALES,
        "phone_takes_no_texts": no_texts,
        **extra,
    }
    return render(request, "preferences.html", context, status_code, user)


@router.get("/preferences")
async def preferences_page(request: Request, ctx: Ctx, user: User, saved: str = "") -> Response:
    return await _preferences(request, ctx, user, saved=saved == "1")


@router.post("/preferences")
async def save_preferences(request: Request, ctx: Ctx, user: User) -> Response:
    """Save the form (unchecked boxes are off); errors are shown beside their fields."""
    form = await request.form()
    try:
        _csrf(request, form)
    except HTTPException as exc:
        return error_page(request, user, exc)
    values: dict[str, Any] = {name: form.get(name) == "on" for name in SWITCHES}
    values |= {name: form_text(form.get(name)).strip() for name in ("email", "phone", "locale")}
    try:
        body = service.PreferenceUpdate.model_validate(values)
    except ValidationError as exc:
        errors = field_errors(exc, gettext(request, user))  # in the page's language
        return await _preferences(request, ctx, user, 422, errors=errors, values=values)
    await service.update_preferences(ctx, user, body)
    return redirect("/console/preferences?saved=1")
