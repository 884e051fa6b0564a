"""The caseworker web console (``/console``): server-rendered pages over the API's services.

Every read and write goes through the service layer the HTTP routes use (``api.service``:
``list_requests``, ``get_request``, ``submit_request``, ``take_action``) and the same rate
limits, so the console enforces exactly the API's RBAC, object scope, validation and
Temporal Update semantics.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from babel.support import NullTranslations
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.auth import allowed_kinds, can, in_scope, rectifies, region_prefix
from api.console import forms, language, views
from api.console.calendars import calendars
from api.console.queue_csv import people_csv
from api.console.session import (
    PRE_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    clear_cookie,
    csrf_for,
    safe_next,
    session_principal,
    session_token,
    set_cookie,
    sign_in_redirect,
)
from api.deps import (
    ApiContext,
    Ctx,
    action_rate,
    check_token,
    client_address,
    read_rate,
    submit_rate,
)
from api.downloads import csv_attachment
from api.lookup import co_handles, not_found, read_row
from api.models import RequestDetail, RequestItem
from api.service.actions import IDEMPOTENCY_KEY, take_action
from api.service.overview import overview_rows, totals_by_tier
from api.service.requests import (
    OnFile,
    QueueFilter,
    QueueSort,
    get_request,
    last_seen_enterprise,
    list_requests,
    submit_request,
)
from api.service.sessions import SessionPolicy, close_session, open_session, refused_sign_in
from schemas.divisions import DIVISIONS
from schemas.domain import (
    OPEN_STATES,
    Category,
    Grade,
    Priority,
    Role,
    SizeClass,
    SlaStatus,
    State,
    Tier,
)
from schemas.edge import INSTITUTION_ID_PATTERN, SEARCH_BYTES, full_match
from schemas.enterprise import registering_division, validate_uscc
from schemas.lifecycle import (
    BAD_RATING,
    PEOPLES_ESCALATION_REASONS,
    SELF_SERVICE_ROLES,
    ActionKind,
    Awaiting,
    FollowUpOutcome,
    RatingStage,
    RequestSummary,
    RequestView,
    ReturnReason,
    SuspendReason,
    clocks_in_order,
    next_due,
)
from schemas.messages import TranslatableError
from schemas.permissions import HANDLER_ROLES
from schemas.policy import CalendarData
from schemas.request import REQUEST_ID_PATTERN
from tierflow.auth_store import Principal, TokenRefused, possible_handlers
from tierflow.constants import workflow_id
from tierflow.db.models import InstitutionRow
from tierflow.directory_store import institution_names, units_in_province, units_near
from tierflow.i18n import LOCALES, N_, Said, formats, translations
from tierflow.i18n.refusals import names_its_action
from workflows import applications
from workflows import views as workflow_views

HERE = Path(__file__).parent
CSV_ROWS = 10_000  # rows of the queue page's CSV export at most
QUEUE_ROWS = 200  # rows of one queue page
MAX_QUEUE_PAGE = 500  # pages reach this far (100,000 rows); the CSV export and search go on
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
MAX_REQUEST_ID = 64  # the API's path limit (and RequestInput's id pattern)
HSTS = "max-age=31536000"  # a year
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Actions whose form asks for more than a click, with the label of the text field (the
# API's TEXT_REQUIRED, in the caseworker's words).
TEXT_LABELS = {
    ActionKind.REQUEST_INFO: N_("Question for the enterprise"),
    ActionKind.PROVIDE_INFO: N_("Information provided"),
    ActionKind.RESOLVE: N_("How it was concluded"),
    ActionKind.REOPEN: N_("Why it is reopened"),
    ActionKind.ESCALATE: N_("Why it goes to the tier above"),
    ActionKind.HAND_BACK: N_("Why it goes back down"),
    ActionKind.REASSIGN: N_("Why it is re-dispatched"),
    ActionKind.REJECT: N_("Why it is not accepted"),
    ActionKind.COMMENT: N_("Comment"),
    ActionKind.EXTERNAL_STATUS: N_("Status note"),
    ActionKind.OPERATOR_RESOLVE: N_("What the operator did instead of the failed step"),
    ActionKind.RETURN: N_("Why the request is not this unit's business"),
    ActionKind.APPROVE_RETURN: N_("Note for the unit it goes to (optional)"),
    ActionKind.REFUSE_RETURN: N_("Why the unit keeps the request"),
    ActionKind.REQUEST_EXTENSION: N_("Why more time is needed"),
    ActionKind.REFUSE_EXTENSION: N_("Why no more time is given"),
    ActionKind.SUSPEND: N_("What the request waits for"),
    ActionKind.REFUSE_SUSPENSION: N_("Why handling goes on"),
    ActionKind.ADD_CO_HANDLER: N_("The part the co-handling unit takes on"),
    ActionKind.CONCLUDE_PART: N_("What the co-handling unit did"),
    ActionKind.WAIVE_PART: N_("Why the request can conclude without that part"),
    ActionKind.SUPERVISE: N_("What the unit must answer for"),
    ActionKind.REPLY_SUPERVISION: N_("The unit's written reply"),
    ActionKind.CONCLUDE_RECTIFICATION: N_("What the unit changed"),
    ActionKind.APPEAL_RATING: N_("Why the rating is mistaken or malicious"),
    ActionKind.UPHOLD_APPEAL: N_("Why the rating no longer counts"),
    ActionKind.REJECT_APPEAL: N_("Why the rating stands"),
}
# Forms whose text may be left out (the API takes the action without one)
OPTIONAL_TEXT = frozenset({ActionKind.APPROVE_RETURN})
# One-click decisions that take effect at once and cannot be taken back: their button sits
# behind a <details> that says what it does (a mis-click on the case page no longer decides).
CONFIRMATIONS = {
    ActionKind.APPROVE_EXTENSION: N_(
        "Approving moves the unit's resolution deadline by the working days it asked for."
    ),
    ActionKind.APPROVE_SUSPENSION: N_(
        "Approving stops the request's clocks for the working days the unit asked for."
    ),
    ActionKind.OPERATOR_RETRY: N_("The step that failed runs again now."),
    ActionKind.WITHDRAW: N_("Withdrawing ends the request; it cannot be taken back."),
}
DANGEROUS = {ActionKind.REJECT, ActionKind.WITHDRAW, ActionKind.ESCALATE, ActionKind.HAND_BACK}

router = APIRouter(prefix="/console", include_in_schema=False)
E = TypeVar("E", bound=StrEnum)


def page_locale(request: Request, user: Principal | None) -> str:
    """The language of this request's page (chosen once per request)."""
    chosen = getattr(request.state, "locale", None)
    if chosen not in LOCALES:
        chosen = language.pick(request, user)
        request.state.locale = chosen
    return str(chosen)


def gettext(request: Request, user: Principal | None) -> Any:
    """The catalog of this request's page language."""
    return translations(page_locale(request, user))


def page_texts(request: Request, user: Principal | None) -> views.Texts:
    """Labels and formats in this request's page language."""
    locale = page_locale(request, user)
    return views.Texts(locale, translations(locale))


def console_user(request: Request, ctx: Ctx) -> Principal:
    """Return the signed-in principal, or send the browser to the sign-in page."""
    principal = session_principal(ctx, session_token(request), client_address(request))
    if principal is None:
        raise sign_in_redirect(request)
    return principal


User = Annotated[Principal, Depends(console_user)]


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    user: Principal | None = None,
) -> Response:
    """Render a page with the session's CSRF token and the console's security headers."""
    token = session_token(request)
    locale = page_locale(request, user)
    templates = language.BY_LOCALE[locale]
    now = datetime.now(UTC)
    texts = page_texts(request, user)
    settings = request.app.state.ctx.settings
    base = {
        "user": user,
        "csrf": csrf_for(request, token) if token and user else "",
        "can_report": user is not None and can(user, "reports"),
        "can_submit": user is not None and can(user, "submit"),
        "now": now,
        "clocks": views.Clockwork(
            texts, now, calendars(settings.policy_file, request.app.state.ctx.engine)
        ),
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "unit": views.UnitNames(request.app.state.ctx.engine),
        # a signed-in page warns before the session's idle time ends (console.js)
        "idle_seconds": round(settings.console_session_idle_minutes * 60) if user else 0,
    }
    response = templates.TemplateResponse(request, name, {**base, **context}, status_code)
    response.headers.update(SECURITY_HEADERS)
    if request.url.scheme == "https" or settings.console_secure_cookies:
        # served over TLS: the browser keeps to it (a token typed at sign-in never goes in
        # clear because a first visit was sent to http:// and stripped)
        response.headers["Strict-Transport-Security"] = HSTS
    response.headers["Content-Language"] = locale
    return response


def error_page(request: Request, user: Principal | None, exc: HTTPException) -> Response:
    message, _ = forms.detail_errors(exc.detail, gettext(request, user))
    context = {"status": exc.status_code, "message": message}
    return render(request, "error.html", context, exc.status_code, user)


def forbidden_page(request: Request, user: Principal, refusal: str) -> Response:
    """The 403 page of a page the user's role may not open: ``refusal`` is the page's
    translated message, with ``%(user)s`` and ``%(role)s`` to fill in."""
    role = page_texts(request, user).label(user.role)
    exc = HTTPException(403, refusal % {"user": user.user_id, "role": role})
    return error_page(request, user, exc)


async def posted_form(
    request: Request, user: Principal, refused: Response | None
) -> FormData | Response:
    """The posted form of a page's form, with a valid CSRF token; otherwise the page to answer
    (``refused``: the page's own refusal of this user)."""
    if refused is not None:
        return refused
    form = await request.form()
    token = form.get("csrf_token")
    try:
        check_csrf(request, session_token(request), forms.form_text(token))
    except HTTPException as exc:
        return error_page(request, user, exc)
    return form


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)


def _enum(kind: type[E], value: str | None) -> E | None:
    """Parse a filter value; empty or unknown means 'any'."""
    try:
        return kind(value) if value else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- sign in / out
@router.get("/session/keepalive")
async def keep_alive(user: User) -> Response:
    """Keep the session going from a page open for long (the warning's "keep working"): the
    session's idle time counts from now. 204; signed out, the usual 303 to sign in."""
    return Response(status_code=204, headers=SECURITY_HEADERS)


@router.get("/login")
def login_form(request: Request, ctx: Ctx, next: str = "") -> Response:  # noqa: A002
    """Show the sign-in form; a signed-in caller goes straight to the queue."""
    if session_principal(ctx, session_token(request), client_address(request)) is not None:
        return redirect(safe_next(next))
    return _login_page(request, next, "", 200)


def _login_page(request: Request, next_url: str, error: str, status_code: int) -> Response:
    pre = request.cookies.get(PRE_COOKIE) or uuid.uuid4().hex
    settings = request.app.state.ctx.settings
    context = {
        "next": safe_next(next_url),
        "error": error,
        "login_csrf": csrf_for(request, pre),
        "idle_minutes": f"{settings.console_session_idle_minutes:g}",
        "max_hours": f"{settings.console_session_max_hours:g}",
    }
    response = render(request, "login.html", context, status_code)
    set_cookie(request, response, PRE_COOKIE, pre, 3600)
    return response


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    """Check the token with the API's bearer check and open a session; the cookie gets its id.

    A sign-in and one refused for its token are security audit records; one refused while the
    address is locked out is not (its lockout is, once): a flood of them would flood the log."""
    form = await request.form()
    if refused := _csrf_refused(request, form, None, request.cookies.get(PRE_COOKIE)):
        return refused
    token = forms.form_text(form.get("token")).strip()
    next_url = forms.form_text(form.get("next"))
    if not token:
        reason = gettext(request, None).gettext("Paste your API token.")
        return _login_page(request, next_url, reason, status.HTTP_401_UNAUTHORIZED)
    address = client_address(request)
    try:
        principal = await run_in_threadpool(check_token, ctx, address, token)
    except TokenRefused as unknown:
        await run_in_threadpool(refused_sign_in, ctx.engine, unknown, address, ctx.clock())
        reason = unknown.said.text(gettext(request, None))
        return _login_page(request, next_url, reason, status.HTTP_401_UNAUTHORIZED)
    except HTTPException as locked:  # too many refused tokens from this address
        said = locked.detail
        reason = said.text(gettext(request, None)) if isinstance(said, Said) else str(said)
        page = _login_page(request, next_url, reason, locked.status_code)
        page.headers.update(locked.headers or {})
        return page
    policy = SessionPolicy.from_settings(ctx.settings)
    session_id = await run_in_threadpool(
        open_session, ctx.engine, principal, ctx.clock(), policy, address
    )
    response = redirect(safe_next(next_url))
    max_age = int(policy.absolute.total_seconds())
    set_cookie(request, response, SESSION_COOKIE, session_id, max_age)
    clear_cookie(response, PRE_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx) -> Response:
    """End the session server-side (a copy of the cookie stops working too) and clear it."""
    form = await request.form()
    session_id = session_token(request)
    if refused := _csrf_refused(request, form, None, session_id):
        return refused
    address = client_address(request)
    await run_in_threadpool(close_session, ctx.engine, session_id or "", ctx.clock(), address)
    response = redirect("/console/login")
    clear_cookie(response, SESSION_COOKIE)
    return response


def _csrf_refused(
    request: Request, form: Any, user: Principal | None, bound_to: str | None
) -> Response | None:
    """Return the 403 page when the form's CSRF token does not fit the session, else None."""
    try:
        check_csrf(request, bound_to, forms.form_text(form.get("csrf_token")))
    except HTTPException as exc:
        return error_page(request, user, exc)
    return None


# --------------------------------------------------------------------------- queue
# A desk's queue opens on its worklist (the "any" choice shows everything)
# (the dispatch desk decides returns and extensions both)
DESK_CHOICE = "desk"  # the queue's choice of a desk's own worklists, when it has several
DESK_WORKLISTS = {
    Role.FOLLOW_UP: (Awaiting.FOLLOW_UP,),
    Role.DISPATCHER: (Awaiting.RETURN_DECISION, Awaiting.EXTENSION_DECISION),
}


def queue_query(
    user: User,
    state: str = "",
    category: str = "",
    priority: str = "",
    sla_status: str = "",
    include_closed: bool = False,
    institution: str = "",
    tier: str = "",
    q: str = "",
    sort: str = "",
    awaiting: str | None = None,
    mine: bool = False,
    signed_for: str = "",
    escalated: bool = False,
    received: bool = False,
    needs_operator: bool = False,
) -> tuple[QueueFilter, QueueSort]:
    """The queue page's filters, search and order (unknown values: no filter, by risk); a
    desk's worklist when ``awaiting`` is not given at all. ``mine``: what the caller handles
    (承办); ``signed_for=false``: what waits to be signed for (待签收)."""
    where = QueueFilter(
        institution if full_match(INSTITUTION_ID_PATTERN, institution) else None,
        _enum(Tier, tier),
        _enum(State, state),
        _enum(Category, category),
        _enum(Priority, priority),
        _enum(SlaStatus, sla_status),
        include_closed=include_closed,
        search=q.strip()[:SEARCH_BYTES] or None,
        awaiting=_worklists(user, awaiting),
        signed_for={"true": True, "false": False}.get(signed_for),
        mine=mine,
        escalated=escalated,
        received=received,
        needs_operator=needs_operator,
    )
    return where, _enum(QueueSort, sort) or QueueSort.RISK


def _worklists(user: User, awaiting: str | None) -> tuple[Awaiting, ...]:
    """The worklist chosen, the desk's own when none is given at all (or ``desk``), or none
    ("")."""
    if awaiting is None or awaiting == DESK_CHOICE:
        return DESK_WORKLISTS.get(user.role, ())
    chosen = _enum(Awaiting, awaiting)
    return (chosen,) if chosen else ()


QueueQuery = Annotated[tuple[QueueFilter, QueueSort], Depends(queue_query)]


@router.get("")
@router.get("/")
def queue(
    request: Request,
    ctx: Ctx,
    user: User,
    query: QueueQuery,
    done: str = "",
    moved: str = "",
    part_done: str = "",
    submitted: str = "",
    routed_to: str = "",
    signed: int = 0,
    unsigned_ids: str = "",
    page: int = 1,
) -> Response:
    """The caller's queue from the service's ``list_requests``: breached first, then nearest due.

    ``q`` searches it (enterprise name, subject, USCC, request id); ``sort`` orders by date;
    ``page`` pages through it, ``QUEUE_ROWS`` rows at a time.
    """
    where, order = query
    number = views.Pages.clamp(page, MAX_QUEUE_PAGE)
    try:
        found = list_requests(
            ctx, user, where, limit=QUEUE_ROWS, offset=(number - 1) * QUEUE_ROWS, sort=order
        )
    except HTTPException as exc:
        return error_page(request, user, exc)
    notices = (
        "done", "moved", "part_done", "submitted", "routed_to", "signed", "unsigned_ids", "page"
    )  # fmt: skip
    shown = {n: v for n, v in request.query_params.items() if n not in notices}
    first = found.offset + 1 if found.items else 0
    more = len(found.items) == QUEUE_ROWS and (
        not found.total_exact or found.total > found.offset + QUEUE_ROWS
    )
    search = where.search or ""
    filters = {
        "state": where.state,
        "category": where.category,
        "priority": where.priority,
        "sla_status": where.sla_status,
        "awaiting": where.awaiting[0] if len(where.awaiting) == 1 else None,
    }
    several = len(DESK_WORKLISTS.get(user.role, ())) > 1
    context = {
        "page": found,
        "rows_from": first,
        "rows_to": found.offset + len(found.items),
        "pages": views.Pages.at(number, MAX_QUEUE_PAGE, more, lambda n: _queue_url(shown, n)),
        "filters": {n: (v.value if v else "") for n, v in filters.items()}
        | ({"awaiting": DESK_CHOICE} if len(where.awaiting) > 1 else {}),
        # a desk with several worklists picks them all as one choice (its default)
        "desk_worklists": DESK_WORKLISTS[user.role] if several else (),
        "desk_choice": DESK_CHOICE,
        "include_closed": where.include_closed,
        "mine": where.mine,
        "unsigned": where.signed_for is False,
        "escalated": where.escalated,
        "needs_operator": where.needs_operator,
        "received": where.received,
        "bad_rating": BAD_RATING,  # 差评: called back first
        "worklist": where.awaiting,
        "scope": {
            "institution": where.institution or "",
            "tier": where.tier.value if where.tier else "",
        },
        "options": {
            "state": list(State),
            "category": list(Category),
            "priority": list(Priority),
            "sla_status": list(SlaStatus),
            # a desk's own worklists (it decides nothing else); everyone else's, all
            "awaiting": list(DESK_WORKLISTS.get(user.role, Awaiting)),
        },
        "done": _done(done),
        "moved": _request_id(moved),
        "part_done": _request_id(part_done),
        "submitted": _request_id(submitted),
        "routed_to": routed_to if full_match(INSTITUTION_ID_PATTERN, routed_to) else "",
        "signed": max(signed, 0),
        "not_signed": [i for i in unsigned_ids.split(",")[:BATCH_MAX] if _request_id(i)],
        "batch_key": f"batch-{uuid.uuid4().hex}",
        "batch_max": BATCH_MAX,
        "signable": {item.request_id for item in found.items if _signable(user, item)},
        # every unit the queue names, read at once (the rows' holders, the heading's)
        "unit": views.UnitNames(
            ctx.engine, [user.institution_id, *(item.institution_id for item in found.items)]
        ),
        "search": search,
        "sort": order.value,
        "sorts": list(QueueSort),
        "tiers": {t.value: t for t in Tier},
        "csv_url": "/console/requests.csv?"
        + urlencode({**shown, "q": search}),  # no awaiting: the desk's own, as here
    }
    return render(request, "queue.html", context, user=user)


def _queue_url(query: dict[str, str], number: int) -> str:
    """The queue page ``number`` under the same filters, search and order."""
    return "/console/?" + urlencode({**query, "page": str(number)})


@router.get("/requests.csv")
def queue_csv(request: Request, ctx: Ctx, user: User, query: QueueQuery) -> Response:
    """The queue page's listing as CSV for Excel (UTF-8 with BOM, no contact details), headed
    and labelled in the page's language."""
    where, order = query
    try:
        page = list_requests(ctx, user, where, CSV_ROWS, sort=order, count_limit=None)
    except HTTPException as exc:
        return error_page(request, user, exc)
    texts = page_texts(request, user)
    held_by = sorted({item.institution_id for item in page.items if item.institution_id})
    try:
        units = institution_names(ctx.engine, held_by)
    except SQLAlchemyError:  # the file still comes, with the units' ids
        units = {}
    return csv_attachment(people_csv(page.items, texts, units), "requests.csv", page.total)


@router.get("/overview")
def overview(request: Request, ctx: Ctx, user: User) -> Response:
    """Supervisors and admins: open requests per tier and institution with SLA counts."""
    if not can(user, "reports"):
        refusal = gettext(request, user).gettext("%(user)s (%(role)s) may not see the overview")
        return forbidden_page(request, user, refusal)
    rows = overview_rows(ctx.engine, user)
    context = {
        "rows": rows,
        "tiers": totals_by_tier(rows),
        # a supervisor's region by its name (杭州市), as the units by theirs, read at once
        "region": DIVISIONS.get(user.division_code or "", region_prefix(user)) if user.tier else "",
        "unit": views.UnitNames(ctx.engine, [row.institution_id for row in rows]),
    }
    return render(request, "overview.html", context, user=user)


# --------------------------------------------------------------------------- case page
@router.get("/requests/{request_id}")
async def case_page(
    request: Request, request_id: str, ctx: Ctx, user: User, done: str = ""
) -> Response:
    """One request: details, SLA clock bar, audit timeline and forms for allowed actions."""
    try:
        read_rate(ctx, user)
        detail = await get_request(ctx, user, _known_id(request_id))
    except HTTPException as exc:
        return error_page(request, user, exc)
    return _case(request, ctx, user, detail, done=_done(done))


def _known_id(request_id: str) -> str:
    """Answer 404 for what no request id can be (the API's path pattern), before a database
    or Temporal sees it (PostgreSQL refuses a NUL: that would read as an outage)."""
    if not full_match(REQUEST_ID_PATTERN, request_id):
        shown = request_id[:MAX_REQUEST_ID] + ("…" if len(request_id) > MAX_REQUEST_ID else "")
        raise not_found(shown)
    return request_id


def _done(value: str) -> str:
    """Return a known 'what just happened' code (an action kind or submit), else ''."""
    return value if value == "submit" or _enum(ActionKind, value) else ""


def _request_id(value: str) -> str:
    return value if full_match(REQUEST_ID_PATTERN, value) else ""


def text_label(kind: ActionKind, user: Principal) -> str | None:
    """The label of an action's text field (None: the form has none); a supervisor's comment
    is an instruction (批示), which the notifier sends to the holding unit's caseworkers, and
    staff recording a withdrawal say how the enterprise asked: the form says so."""
    if kind is ActionKind.COMMENT and user.role is Role.SUPERVISOR:
        return N_("Instruction to the unit (its caseworkers are told)")
    if kind is ActionKind.WITHDRAW and user.role not in SELF_SERVICE_ROLES:
        return N_("How and when the enterprise asked to withdraw")
    if kind is ActionKind.RATE:  # schemas.lifecycle.rating_text_missing
        if user.role not in SELF_SERVICE_ROLES:
            return N_("How and when the enterprise gave the rating")
        return N_("Why (required for a rating of 1 or 2)")
    return TEXT_LABELS.get(kind)


def _case(
    request: Request,
    ctx: ApiContext,
    user: Principal,
    detail: RequestDetail,
    *,
    done: str = "",
    failed: ActionKind | None = None,
    error: str = "",
    error_headed: bool = True,
    field_errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    failed_key: str | None = None,
) -> Response:
    """The case page; ``failed_key``: the failed action's form keeps its idempotency key (an
    action without an answer yet, which sent again must apply once)."""
    now = datetime.now(UTC)
    view = detail.view
    texts = page_texts(request, user)
    t = texts.t
    submitted = view.summary.submitted_at if view else None
    submitted = submitted or (detail.request.submitted_at if detail.request else None)
    cal = view.calendar if view and view.calendar else None  # the request's pinned calendar
    if cal is None and submitted:  # the read model alone: its policy's for that year
        version = detail.request.policy_version if detail.request else None
        cal = calendars(ctx.settings.policy_file, ctx.engine).at_submission(submitted, version)
    actions = [
        {
            "kind": kind,
            "text_label": t.gettext(label) if (label := text_label(kind, user)) else None,
            "dangerous": kind in DANGEROUS,
            "confirm": t.gettext(CONFIRMATIONS[kind]) if kind in CONFIRMATIONS else None,
            # a good rating needs no text (a bad one does: the API says so, naming the field)
            "text_optional": kind in OPTIONAL_TEXT
            or (kind is ActionKind.RATE and user.role in SELF_SERVICE_ROLES),
            "key": failed_key if failed_key and kind is failed else f"console-{uuid.uuid4().hex}",
        }
        for kind in detail.allowed_actions
    ]
    summary = view.summary if view else detail.request
    offered = set(detail.allowed_actions)
    moving = bool(offered & {ActionKind.REASSIGN, ActionKind.APPROVE_RETURN})
    units = _unit_choices(ctx, summary) if summary and ActionKind.ADD_CO_HANDLER in offered else []
    wide = _above_the_city(user)  # 改派, an approved 退单: from above the city, the province's
    movable = (
        _unit_choices(ctx, summary, wide) if summary and moving and (wide or not units) else units
    )
    context = {
        "detail": detail,
        "row": detail.request,
        "view": view,
        "missing": detail.view_missing.value if detail.view_missing else None,
        "summary": summary,
        "next_due": next_due(summary) if summary else None,
        "bars": _bars(detail, now, texts, cal),
        "clock_rows": clocks_in_order(view.clocks) if view else [],
        "estimated_years": formats.listed(
            [str(year) for year in workflow_views.estimated_years_ahead(view)], texts.t
        ),
        "clocks": views.Clockwork(texts, now, calendars(ctx.settings.policy_file, ctx.engine), cal),
        "calendar": cal,
        "bar_width": views.BAR_WIDTH,
        "actions": actions,
        "return_reasons": list(ReturnReason),
        "escalation_reasons": PEOPLES_ESCALATION_REASONS,
        # 退单, 延期, 挂起: asked, then decided by the tier above
        "applications": {kind.value for kind in applications.NAMES},
        "suspend_reasons": list(SuspendReason),
        "follow_up_outcomes": list(FollowUpOutcome),
        "rating_stages": rating_stages(summary.state if summary else None),
        "open_states": {state.value for state in OPEN_STATES},
        "role_kinds": allowed_kinds(user),
        "return_until": return_until(view, user),
        "return_open": ActionKind.RETURN in offered,
        # an operator's tool on an internal address: for administrators only
        "temporal_url": (
            views.temporal_ui_url(ctx.settings, workflow_id(detail.request_id))
            if user.role is Role.ADMIN
            else None
        ),
        "workflow_id": workflow_id(detail.request_id),
        "done": done,
        "failed": failed,
        "error": error,
        "error_headed": error_headed,
        "field_errors": field_errors or {},
        "values": values or {},
        # the units each form names, for those offered: 协办 any nearby unit, 改派 and an
        # approved 退单 one at the request's tier serving its category, 免除 an open part's
        "unit_choices": units,
        "dispatch_choices": [u for u in movable if summary and _dispatchable(u, summary)]
        if moving
        else [],
        "part_choices": [p for p in view.parts if p.open]
        if view and ActionKind.WAIVE_PART in offered
        else [],
        "colleagues": _colleagues(ctx, summary, detail.allowed_actions),
    }
    return render(request, "case.html", context, status_code, user)


def _colleagues(
    ctx: ApiContext, summary: RequestSummary | None, allowed: list[ActionKind]
) -> list[str]:
    """Who the holding unit may name as handler, offered by the assign and transfer forms
    (the form still takes any name; the workflow checks it)."""
    holder = summary.institution_id if summary else None
    if holder is None or not HANDLER_PICKS.intersection(allowed):
        return []
    try:
        return possible_handlers(ctx.engine, holder)
    except SQLAlchemyError:  # the page still works: the name is typed
        return []


HANDLER_PICKS = frozenset({ActionKind.ASSIGN_HANDLER, ActionKind.TRANSFER})


def _bars(
    detail: RequestDetail, now: datetime, texts: views.Texts, cal: CalendarData | None
) -> list[views.TierBar]:
    """The clock bars: from the workflow's view, else from the read model's holds and audit
    trail (a request Temporal cannot show now or no longer keeps)."""
    if detail.view is not None:
        return views.clock_bars(detail.view, now, texts, cal)
    if detail.request is None:
        return []
    life = (detail.request.submitted_at, detail.request.closed_at)
    return views.hold_bars(detail.holds, detail.timeline, life, now, texts, cal)


def _above_the_city(user: Principal) -> bool:
    """Whether the user moves requests from above the city (a province's or the nation's
    supervisor or desk): the unit to send one to may be in any city of its province (a
    非本辖区 return, a 改派), as the workflow accepts."""
    return user.tier in (Tier.PROVINCIAL, Tier.NATIONAL)


def _unit_choices(
    ctx: ApiContext, summary: RequestSummary, province_wide: bool = False
) -> list[InstitutionRow]:
    """The units a supervisor picks from (the form still takes any id; the workflow checks
    it): the request's city's, province's or the national ones, by its tier (where it is
    overseen from); for a user above the city, the province's at its tier that serve its
    category (``province_wide``); but its holder (no request is re-dispatched to, or co-handled by,
    the unit that holds it)."""
    division = summary.overseen_division
    try:
        if province_wide:
            near = units_in_province(ctx.engine, division, summary.tier, summary.category)
        else:
            near = units_near(ctx.engine, division, summary.tier)
    except SQLAlchemyError:  # the page still works: the id is typed
        return []
    return [unit for unit in near if unit.id != summary.institution_id]


def _dispatchable(unit: InstitutionRow, summary: RequestSummary) -> bool:
    """Whether a 改派 or an approved 退单 may send the request to ``unit``: one at its tier
    that serves its category (the workflow's directory check says the same)."""
    return unit.tier is summary.tier and unit.serves(summary.category)


def return_until(view: RequestView | None, user: Principal) -> datetime | None:
    """退单: until when the caller's unit may return the request, for the case page to say so,
    or that it no longer may (the form is not offered then, and would not say why); None for
    anyone but the holding unit's people, and for a request no longer open."""
    if view is None or view.summary.state not in OPEN_STATES:
        return None
    if ActionKind.RETURN not in allowed_kinds(user):
        return None
    return view.return_until if user.institution_id == view.summary.institution_id else None


def rating_stages(state: State | None) -> list[RatingStage]:
    """The stages the case page's rating form offers: while the request is open, the rating
    is the intake's (受理评价); after its conclusion, the conclusion's (no choice shown)."""
    return [RatingStage.INTAKE] if state in OPEN_STATES else []


@router.post("/requests/{request_id}/actions/{kind}")
async def post_action(
    request: Request, request_id: str, kind: str, ctx: Ctx, user: User
) -> Response:
    """Take an action through the service's ``take_action`` (the same Temporal Update)."""
    form = await request.form()
    if refused := _csrf_refused(request, form, user, session_token(request)):
        return refused
    action = _enum(ActionKind, kind)
    if action is None:
        unknown = Said(N_("kind: unknown action %(kind)r"), kind=kind)
        return error_page(request, user, HTTPException(404, unknown))
    key = forms.form_text(form.get("idempotency_key"))
    values = {n: forms.form_text(form.get(n)) for n in forms.ACTION_FIELDS}
    body, errors = forms.parse_action_body(form, gettext(request, user))
    try:
        _known_id(request_id)
        if not re.fullmatch(IDEMPOTENCY_KEY, key):
            errors["idempotency_key"] = gettext(request, user).gettext(
                "must be 1-128 letters, digits or _.:- (reload the page)"
            )
        if errors:
            raise HTTPException(422, [{"field": f, "msg": m} for f, m in errors.items()])
        action_rate(ctx, user)
        result = await take_action(ctx, user, request_id, action, body, key)
    except HTTPException as exc:
        return await _refused(request, ctx, user, request_id, action, exc, values)
    if action is ActionKind.CONCLUDE_PART and result.institution_id != user.institution_id:
        # 协办办结: the unit's part is done, and with it its sight of the request
        return redirect("/console/?" + urlencode({"done": action.value, "part_done": request_id}))
    if await _still_in_scope(ctx, user, request_id) or await run_in_threadpool(
        co_handles, ctx, user, request_id
    ):  # 协办: its part
        return redirect(f"/console/requests/{request_id}?done={action.value}")
    return redirect("/console/?" + urlencode({"done": action.value, "moved": request_id}))


BATCH_MAX = 50  # requests one 签收所选 signs for


def _signable(user: Principal, item: RequestItem) -> bool:
    """Whether the queue offers ``item`` to sign for in a batch: dispatched to the caller's
    own unit and not signed for yet, to one who may handle it there (the workflow still
    judges each)."""
    return (
        user.role in HANDLER_ROLES
        and user.institution_id is not None
        and item.institution_id == user.institution_id
        and item.state is State.ASSIGNED
        and item.signed_for_at is None
    )


@router.post("/sign-for")
async def sign_for_batch(request: Request, ctx: Ctx, user: User) -> Response:
    """签收所选: sign for each request ticked in the queue, one Update each with its own
    Idempotency-Key (the form's key and the id: sending the form again signs nothing twice);
    back to the queue saying how many were signed for and which were not."""
    form = await request.form()
    if refused := _csrf_refused(request, form, user, session_token(request)):
        return refused
    key = forms.form_text(form.get("batch_key"))
    ids = list(dict.fromkeys(forms.form_text(v) for v in form.getlist("request_id")))
    catalog = gettext(request, user)
    if not re.fullmatch(r"batch-[0-9a-f]{32}", key) or len(ids) > BATCH_MAX:
        why = catalog.gettext("tick at most %(max)d requests (reload the page)") % {
            "max": BATCH_MAX
        }
        return error_page(request, user, HTTPException(422, why))
    signed, not_signed = 0, []
    for request_id in ids:
        try:
            _known_id(request_id)
            action_rate(ctx, user)
            await take_action(
                ctx, user, request_id, ActionKind.SIGN_FOR, None, f"{key}.{request_id}"
            )
            signed += 1
        except HTTPException:
            not_signed.append(request_id)
    notice = {"signed_for": "false", "signed": str(signed), "unsigned_ids": ",".join(not_signed)}
    return redirect("/console/?" + urlencode(notice))


async def _still_in_scope(ctx: ApiContext, user: Principal, request_id: str) -> bool:
    """Whether the request is still the user's after their action (held in its scope, or a
    整改 its unit still owes a step of), from the read model, which the action's own record
    wrote before the action answered: no query of the live workflow, which may be taking
    other updates right then."""
    row = await run_in_threadpool(read_row, ctx, request_id)
    return row is not None and (in_scope(user, row) or rectifies(user, row))


async def _refused(
    request: Request,
    ctx: ApiContext,
    user: Principal,
    request_id: str,
    action: ActionKind,
    exc: HTTPException,
    values: dict[str, str],
) -> Response:
    """Show the case again with the refusal (403/409/422/429 text) next to the action; an
    action still without an answer (503 naming its Idempotency-Key) keeps its key."""
    message, fields = forms.detail_errors(exc.detail, gettext(request, user))
    headed = not names_its_action(exc.detail)  # "cannot sign for: ..." needs no heading
    if not headed:
        message = message[:1].upper() + message[1:]
    pending_key = (exc.headers or {}).get("Idempotency-Key")
    if pending_key:
        headed = True
        message = gettext(request, user).gettext(
            "No answer yet: the action may still take effect. Send this form again as it is "
            "to see its result; it takes effect only once."
        )
    try:
        detail = await get_request(ctx, user, _known_id(request_id))
    except HTTPException as lookup:
        return error_page(request, user, lookup if exc.status_code < 400 else exc)
    return _case(
        request,
        ctx,
        user,
        detail,
        failed=action,
        error=message,
        error_headed=headed,
        field_errors=fields,
        values=values,
        status_code=exc.status_code,
        failed_key=pending_key,
    )


# --------------------------------------------------------------------------- walk-in submit
def _submit_context(
    values: dict[str, str], errors: dict[str, str], error: str, found: str = ""
) -> dict:
    return {
        "values": values,
        "errors": errors,
        "error": error,
        "found": found,
        "options": {
            "category": list(Category),
            "priority": list(Priority),
            "size_class": list(SizeClass),
            "grade": list(Grade),
        },
    }


@router.get("/submit")
def submit_form(request: Request, ctx: Ctx, user: User, uscc: str = "") -> Response:
    """The walk-in form; with ``uscc``, filled in from the enterprise's latest request the
    caller may see (带出企业信息), or its registering division when there is none."""
    if not can(user, "submit"):
        refusal = gettext(request, user).gettext("%(user)s (%(role)s) may not submit requests")
        return forbidden_page(request, user, refusal)
    values = {"priority": Priority.NORMAL.value, "enterprise.size_class": "small"}
    values["request_id"] = forms.new_walk_in_id()
    errors, found = {}, ""
    catalog = gettext(request, user)
    if uscc := uscc.strip().upper()[:ENTERPRISE_USCC_CHARS]:
        values["enterprise.uscc"] = uscc
        try:
            validate_uscc(uscc)
        except TranslatableError as exc:
            errors["enterprise.uscc"] = exc.text(catalog)
        else:
            values["enterprise.division_code"] = registering_division(uscc) or ""
            last = last_seen_enterprise(ctx, user, uscc)
            found = (
                _filled_from(values, last, catalog)
                if last
                else catalog.gettext(
                    "No earlier request of this enterprise that you may see: fill in the rest."
                )
            )
    return render(request, "submit.html", _submit_context(values, errors, "", found), user=user)


ENTERPRISE_USCC_CHARS = 18


def _filled_from(values: dict[str, str], last: OnFile, catalog: NullTranslations) -> str:
    """Fill ``values`` with what the enterprise gave on ``last`` (its contact only for the
    unit that held it); say so, for checking."""
    given = {
        "enterprise.name": last.enterprise_name,
        "enterprise.division_code": last.division_code,
        "enterprise.contact_name": last.contact_name or "",
        "enterprise.contact_phone": last.contact_phone or "",
        "enterprise.contact_email": last.contact_email or "",
    }
    values.update(given)
    if last.contact_withheld:
        said = catalog.gettext(
            "Filled in the name and division from its request %(request)s of %(when)s: check "
            "them. Its contact is filled in only for the unit that held that request: ask the "
            "enterprise."
        )
    else:
        said = catalog.gettext("Filled in from its request %(request)s of %(when)s: check them.")
    return str(said) % {
        "request": last.request_id,
        "when": formats.when(last.submitted_at, catalog),
    }


@router.post("/submit")
async def submit(request: Request, ctx: Ctx, user: User) -> Response:
    """Submit a walk-in request through the service's ``submit_request`` (same validation)."""
    form = await request.form()
    if refused := _csrf_refused(request, form, user, session_token(request)):
        return refused
    values, req, errors = forms.parse_walk_in(form, gettext(request, user))
    try:
        if req is None:
            raise HTTPException(422, [{"field": f, "msg": m} for f, m in errors.items()])
        submit_rate(ctx, user)
        accepted = await submit_request(ctx, user, req, wait=True)
    except HTTPException as exc:
        message, fields = forms.detail_errors(exc.detail, gettext(request, user))
        if exc.status_code == 409:
            fields = {"request_id": message}
        need = gettext(request, user).ngettext(
            "%(n)d field needs attention", "%(n)d fields need attention", len(fields)
        )
        summary = need % {"n": len(fields)} if fields else message
        context = _submit_context(values, fields, summary)
        return render(request, "submit.html", context, exc.status_code, user)
    rid = accepted.request_id
    if accepted.in_scope:
        return redirect(f"/console/requests/{rid}?done=submit")
    routed = {"routed_to": accepted.institution_id or ""} if accepted.tier else {}
    return redirect("/console/?" + urlencode({"submitted": rid, **routed}))


# --------------------------------------------------------------------------- language switch
@router.get("/language/{code}")
def switch_language(request: Request, code: str, next: str = "") -> Response:  # noqa: A002
    """Show the console in ``code`` (zh-CN or en) in this browser, then go back."""
    if code not in LOCALES:
        unknown = N_("The console has no language %(code)s.")
        raise HTTPException(status.HTTP_404_NOT_FOUND, Said(unknown, code=code[:16]))
    response = redirect(safe_next(next))
    hours = request.app.state.ctx.settings.console_session_max_hours
    set_cookie(request, response, language.COOKIE, code, int(hours * 3600))
    return response


# --------------------------------------------------------------------------- static files
@router.get("/static/{name}")
def static(name: str) -> Response:
    """Serve the console's own CSS and script (no CDN, no build step)."""
    if name not in STATIC_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, Said(N_("There is no such file.")))
    return FileResponse(
        HERE / "static" / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
