"""Submit a request, list the caller's queue by SLA risk, and open one request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import and_, case, exists, false, func, literal, or_, union
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from tenacity import AsyncRetrying, retry_if_result, stop_after_delay, wait_fixed

from api.auth import (
    allowed_kinds,
    can,
    in_scope,
    received_by,
    receiving_unit,
    require,
    scope_conditions,
)
from api.contact import Submitter, prefills_contact
from api.deps import ApiContext
from api.errors import field_error
from api.lookup import Sight, find_in_scope, read_row, to_row, whole_row
from api.models import (
    HandlerLoad,
    QueuePage,
    RequestDetail,
    RequestItem,
    SubmitAccepted,
    Workload,
)
from schemas.domain import TERMINAL_STATES, Category, Priority, Role, SlaStatus, State, Tier
from schemas.edge import SEARCH_BYTES, check_text
from schemas.enterprise import NATIONAL_DIVISION
from schemas.lifecycle import BAD_RATING, Awaiting, EventType, TimelineEntry, timeline_facts
from schemas.messages import Said, TranslatableError
from schemas.permissions import oversees, submit_refusal
from schemas.request import RequestInput
from tierflow import submission
from tierflow.auth_store import Principal
from tierflow.constants import workflow_id
from tierflow.csv_text import to_csv
from tierflow.db import repository
from tierflow.db.auth_models import ApiUser
from tierflow.db.models import RequestPart, ServiceRequest, TierHoldBase, Transition
from tierflow.db.search import search_condition
from tierflow.grades import SHANGHAI
from tierflow.submission import RequestFinished, SubmitConflict
from workflows import views
from workflows.records import DECISIONS

log = logging.getLogger("tierflow.api")


@dataclass(frozen=True)
class QueueFilter:
    """What a queue listing may be narrowed to; None means any."""

    institution: str | None = None
    tier: Tier | None = None
    state: State | None = None
    category: Category | None = None
    priority: Priority | None = None
    sla_status: SlaStatus | None = None
    include_closed: bool = False
    signed_for: bool | None = None  # False: awaiting sign-for (待签收)
    search: str | None = None  # enterprise name or subject contains it; USCC or id starts so
    handler: str | None = None  # 承办人: the caseworker handling it in the holding unit
    mine: bool = False  # only what the caller handles
    awaiting: tuple[Awaiting, ...] = ()  # worklists, any of them: 待回访, 退单待决定 ...
    escalated: bool = False  # only what was escalated at least once (上报转入)
    # 首问负责: what the caller's unit received first and another unit holds now, in place
    # of the caller's scope (a unit's caseworkers and its lead)
    received: bool = False
    uscc: str | None = None  # one enterprise's requests (a portal's "my requests")
    needs_operator: bool = False  # only those a permanently failed step holds for an operator
    # only those whose last step was then or after, closed ones too (a client polling)
    updated_since: datetime | None = None


# worklists whose requests may wait for someone after their close
AFTER_CLOSE = frozenset(
    {
        Awaiting.APPEAL_DECISION,
        Awaiting.SUPERVISION_REPLY,
        Awaiting.RECTIFICATION_REPLY,
        Awaiting.FOLLOW_UP,
    }
)


class QueueSort(StrEnum):
    """How a listing is ordered."""

    RISK = "risk"  # breached first, then the nearest deadline (the queue's order)
    NEWEST = "newest"  # submitted, newest first
    OLDEST = "oldest"  # submitted, oldest first
    UPDATED = "updated"  # the last step, earliest first: a client polling for changes


ROUTING_WAIT_SECONDS = 10.0  # how long a submit that asks to wait waits for its routing


async def submit_request(
    ctx: ApiContext, principal: Principal, body: RequestInput, *, wait: bool = False
) -> SubmitAccepted:
    """Start the request's workflow (an already running one with that id is kept); with
    ``wait``, say where it was routed once the read model has it (briefly)."""
    require(principal, "submit")
    refused = submit_refusal(principal.actor, body.enterprise.division_code)
    if refused:
        raise HTTPException(status.HTTP_403_FORBIDDEN, refused)
    request = body.model_copy(update={"submitted_by": principal.actor})
    try:
        started = await submission.submit_request(
            ctx.temporal,
            request,
            ctx.settings.task_queue,
            recorded=submission.read_model_holds(ctx.engine),
        )
    except (RequestFinished, SubmitConflict) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, Said(exc.message, **exc.values)) from None
    accepted = SubmitAccepted(
        request_id=request.request_id,
        workflow_id=workflow_id(request.request_id),
        status="duplicate" if started is submission.Submitted.DUPLICATE else "accepted",
    )
    row = await routed_row(ctx, request.request_id) if wait else None
    if row is not None:
        accepted.tier, accepted.institution_id = row.tier, row.institution_id
        accepted.in_scope = in_scope(principal, row)
    return accepted


async def routed_row(ctx: ApiContext, request_id: str) -> ServiceRequest | None:
    """Wait (briefly) until a new request is routed; return its read-model row (None: not
    routed in time, or the read model cannot say). The row, not the workflow's view: a query
    of a request still being admitted makes the SDK complete its task early, which is how
    replays used to diverge. The submit has succeeded by then: a database that fails while
    it waits costs the answer its routing, never the submit's 202."""

    def routed(row: ServiceRequest | None) -> bool:
        return row is not None and row.state is not State.SUBMITTED

    routing = AsyncRetrying(
        retry=retry_if_result(lambda row: not routed(row)),
        stop=stop_after_delay(ROUTING_WAIT_SECONDS),
        wait=wait_fixed(0.2),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    try:
        row: ServiceRequest | None = await routing(run_in_threadpool, read_row, ctx, request_id)
    except SQLAlchemyError as exc:
        log.warning("routing of %s unknown: the read model failed (%s)", request_id, exc)
        return None
    return row if routed(row) else None


COUNT_LIMIT = 1000  # matches counted at most for a page; the listing itself is not cut


def _conditions(principal: Principal, where: QueueFilter, dialect: str, now: datetime) -> list[Any]:
    """Return the SQL conditions of a listing: the caller's scope and the filter."""
    require(principal, "read")
    scope = _received(principal) if where.received else scope_conditions(principal, dialect)
    conditions = list(scope)
    filters: list[tuple[Any, Any]] = [
        (ServiceRequest.institution_id, where.institution),
        (ServiceRequest.tier, where.tier),
        (ServiceRequest.state, where.state),
        (ServiceRequest.category, where.category),
        (ServiceRequest.priority, where.priority),
        (ServiceRequest.handler_id, principal.actor.id if where.mine else where.handler),
        (ServiceRequest.enterprise_uscc, where.uscc),
    ]
    conditions += [column == value for column, value in filters if value is not None]
    if where.sla_status is not None and where.received:  # 首问负责: by the holder's clocks
        conditions.append(col(ServiceRequest.sla_status) == where.sla_status)
    elif where.sla_status is not None:
        conditions.append(_sla_status_is(principal, where.sla_status, now))
    if where.signed_for is not None:
        signed = col(ServiceRequest.signed_for_at)
        conditions.append(signed.is_not(None) if where.signed_for else signed.is_(None))
    if where.escalated:
        conditions.append(col(ServiceRequest.escalation_count) > 0)
    if where.needs_operator:
        conditions.append(col(ServiceRequest.needs_operator).is_(True))
    if where.awaiting:  # any of the worklists
        conditions.append(or_(*(_waits_for(principal, code) for code in where.awaiting)))
    # a worklist of what may wait after the close (an appeal, a supervision's reply, a bad
    # rating's call back) holds closed requests too
    after_close = AFTER_CLOSE.intersection(where.awaiting)
    if where.updated_since is not None:  # a close is a change a poller must see
        conditions.append(col(ServiceRequest.updated_at) >= where.updated_since)
    elif where.state is None and not where.include_closed and not after_close:
        conditions.append(col(ServiceRequest.state).not_in(sorted(TERMINAL_STATES)))
    search = (where.search or "").strip()
    if search:
        try:
            check_text(search, SEARCH_BYTES)
        except TranslatableError as exc:  # in the caller's language on the console
            raise field_error(("query", "search"), Said(exc.message, **exc.values)) from None
        conditions.append(search_condition(search, dialect))
    return conditions


def _waits_for(principal: Principal, code: Awaiting) -> Any:
    """A worklist's condition (the column holds " code code ": ``awaiting_text``)."""
    waits = col(ServiceRequest.awaiting).contains(f" {code.value} ", autoescape=True)
    if code in DECISIONS.values() and principal.role in (Role.SUPERVISOR, Role.DISPATCHER):
        # a decision waits for a tier above the request's: a desk's or a supervisor's
        # worklist holds the ones it may decide, not those its own tier asks (a unit's
        # caseworkers still see their own asks waiting)
        tier = principal.actor.tier
        mine = [t.value for t in Tier if tier is not None and oversees(tier, t)]
        return and_(waits, col(ServiceRequest.tier).in_(mine))
    if code is Awaiting.SUPERVISION_REPLY:
        return _replies_owed(principal)
    if code is Awaiting.RECTIFICATION_REPLY and principal.role is Role.CASEWORKER:
        return and_(waits, col(ServiceRequest.rectifying_unit) == principal.institution_id)
    if code is Awaiting.FOLLOW_UP and principal.role is Role.FOLLOW_UP:
        return and_(waits, _called_by(principal.actor.tier))
    return waits


def _called_by(desk: Tier | None) -> Any:
    """The requests a follow-up desk at ``desk`` calls about (待回访): the dispatching tier's
    desk's, the tier above the holder's, or where that tier has no desk for the request's
    region, the first tier above that has one, as the notifier tells it
    (``workers.notifier.audience``): a province's desk does not call the enterprises its
    cities' desks call, and does call those of a city without one."""
    if desk is None:
        return false()
    region = func.coalesce(col(ServiceRequest.scope_division), col(ServiceRequest.division_code))
    served = []
    for held in Tier:
        first = held.next_up() or held
        if first.rank > desk.rank:
            continue
        skipped = [t for t in Tier if first.rank <= t.rank < desk.rank]
        served.append(
            and_(
                col(ServiceRequest.tier) == held.value,
                *(~exists(_desk_at(t, region)) for t in skipped),
            )
        )
    return or_(*served) if served else false()


def _desk_at(tier: Tier, region: Any) -> Any:
    """An enabled follow-up desk at ``tier`` for the division ``region`` lies in (SQL, as
    ``schemas.enterprise.division_for_tier``)."""
    governing = {
        Tier.NATIONAL: literal(NATIONAL_DIVISION),
        Tier.PROVINCIAL: func.substr(region, 1, 2).concat("0000"),
        Tier.MUNICIPAL: func.substr(region, 1, 4).concat("00"),
        Tier.COUNTY: region,
    }[tier]
    return select(ApiUser.id).where(
        ApiUser.role == Role.FOLLOW_UP,
        col(ApiUser.disabled).is_(False),
        ApiUser.tier == tier,
        ApiUser.division_code == governing,
    )


def _replies_owed(principal: Principal) -> Any:
    """督办待回复: the requests whose supervision waits for a written reply, the holding
    unit's (the ``awaiting`` column), a rated unit's for its 整改 where another unit holds
    the request (``awaiting`` and ``rectifying_unit``) or a co-handler's for its late part
    (``request_part``). A unit's caseworkers see the replies their unit owes, not another
    unit's; a supervisor sees every reply owed in their scope. One list of ids from all three
    (each found by its own index), which the listing reads by primary key."""
    row = aliased(ServiceRequest)
    rated = aliased(ServiceRequest)
    code = f" {Awaiting.SUPERVISION_REPLY.value} "
    holders = select(row.request_id).where(col(row.awaiting).contains(code, autoescape=True))
    elsewhere = f" {Awaiting.RECTIFICATION_REPLY.value} "
    rectifiers = select(rated.request_id).where(
        col(rated.awaiting).contains(elsewhere, autoescape=True)
    )
    parts = select(RequestPart.request_id).where(col(RequestPart.replies_owed) > 0)
    if principal.role is Role.CASEWORKER and principal.institution_id is not None:
        holders = holders.where(row.institution_id == principal.institution_id)
        rectifiers = rectifiers.where(rated.rectifying_unit == principal.institution_id)
        parts = parts.where(RequestPart.institution_id == principal.institution_id)
    return col(ServiceRequest.request_id).in_(union(holders, rectifiers, parts))


def _received(principal: Principal) -> list[Any]:
    """首问负责: the requests the caller's unit received first and no longer holds (none for
    a caller without a unit, or not one of its caseworkers or its lead)."""
    unit = receiving_unit(principal)
    if unit is None:
        return [false()]
    holder = col(ServiceRequest.institution_id)
    return [received_by(unit), or_(holder.is_(None), holder != unit)]


def _sla_status_is(principal: Principal, status: SlaStatus, now: datetime) -> Any:
    """The status filter as the queue shows each row (``_part_deadlines``): for a unit's
    caseworkers, a request the unit co-handles (an open part: its scope) is late or on track
    by the part's deadline; every other row by its holder's clocks (a supervisor's unit
    co-handling a part is not the supervisor's queue)."""
    unit = principal.institution_id
    by_holder = col(ServiceRequest.sla_status) == status
    if principal.role is Role.FOLLOW_UP:
        return _follow_up_status_is(status, now)
    if not unit or principal.role is not Role.CASEWORKER:
        return by_holder
    held = col(ServiceRequest.institution_id) == unit
    mine = (RequestPart.institution_id == unit, col(RequestPart.closed_at).is_(None))
    by_part = {
        SlaStatus.BREACHED: col(RequestPart.due_at) < now,
        SlaStatus.ON_TRACK: col(RequestPart.due_at) >= now,
    }.get(status)
    if by_part is not None:
        parts = select(RequestPart.request_id).where(*mine, by_part)
        return or_(and_(held, by_holder), col(ServiceRequest.request_id).in_(parts))
    return and_(held, by_holder)


def _earliest(first: Any, second: Any, third: Any) -> Any:
    """The earliest of three nullable instants, NULL if all are (SQLite's min() and SQL's
    LEAST() disagree on NULLs, so spelt out)."""

    def before(one: Any, other: Any) -> Any:
        return or_(other.is_(None), one <= other)

    return case(
        (and_(first.is_not(None), before(first, second), before(first, third)), first),
        (and_(second.is_not(None), before(second, third)), second),
        else_=third,
    )


def _order(
    sort: QueueSort, principal: Principal, now: datetime, by_holder: bool = False
) -> list[Any]:
    """The listing's order; ``by_holder``: by the holding unit's clocks alone (not the
    caller's unit's parts), as for what the unit received first (首问负责)."""
    submitted, request_id = col(ServiceRequest.submitted_at), col(ServiceRequest.request_id)
    if sort is QueueSort.NEWEST:
        return [submitted.desc(), request_id.desc()]
    if sort is QueueSort.OLDEST:
        return [submitted, request_id]
    if sort is QueueSort.UPDATED:
        return [col(ServiceRequest.updated_at), request_id]
    next_due: Any = _earliest(  # schemas.lifecycle.next_due, in SQL
        col(ServiceRequest.sign_for_due_at),
        col(ServiceRequest.response_due_at),
        col(ServiceRequest.resolution_due_at),
    )
    breached: Any = col(ServiceRequest.sla_status) == SlaStatus.BREACHED
    unit = principal.institution_id
    if principal.role is Role.CASEWORKER and unit is not None and not by_holder:
        # 协办: a request the unit co-handles is due, and late, when the unit's part is
        part_due = (
            select(func.min(RequestPart.due_at))
            .where(
                RequestPart.request_id == ServiceRequest.request_id,
                RequestPart.institution_id == unit,
                col(RequestPart.closed_at).is_(None),
            )
            .scalar_subquery()
        )
        held = col(ServiceRequest.institution_id) == unit
        next_due = case((held, next_due), else_=part_due)
        breached = case((held, breached), else_=part_due < now)
    first: list[Any] = []
    if principal.role is Role.FOLLOW_UP:
        # 待回访: the desk's deadline is the follow-up's, once the unit's clocks have stopped,
        # and the row late by it alone, as the queue shows it (``_follow_up_deadlines``)
        follow_up = col(ServiceRequest.follow_up_due_at)
        calling = and_(follow_up.is_not(None), next_due.is_(None))
        breached = case((calling, follow_up < now), else_=breached)
        next_due = func.coalesce(next_due, follow_up)
        # a bad rating's callback first: every 差评 is called back (and rectified)
        first.append(case((col(ServiceRequest.rating) <= BAD_RATING, 0), else_=1))
    breached_first = case((breached, 0), else_=1)
    return [*first, breached_first, next_due.asc().nulls_last(), submitted, request_id]


def list_requests(
    ctx: ApiContext,
    principal: Principal,
    where: QueueFilter,
    limit: int = 50,
    offset: int = 0,
    sort: QueueSort = QueueSort.RISK,
    count_limit: int | None = COUNT_LIMIT,
) -> QueuePage:
    """Return the caller's requests that match: by SLA risk (breached, then nearest due) or date.

    Counting stops at ``count_limit`` matches (None: counts them all, as the CSV export does):
    a frequent search term would otherwise make every page read every match to count it.
    """
    now = ctx.clock()
    conditions = _conditions(principal, where, ctx.engine.dialect.name, now)
    with Session(ctx.engine) as session:
        matching = select(col(ServiceRequest.request_id)).where(*conditions)
        if count_limit is not None:
            matching = matching.limit(count_limit + 1)
        counted = session.exec(select(func.count()).select_from(matching.subquery())).one()
        rows = session.exec(
            select(ServiceRequest)
            .where(*conditions)
            .order_by(*_order(sort, principal, now, by_holder=where.received))
            .offset(offset)
            .limit(limit)
        ).all()
        items = [RequestItem.model_validate(whole_row(r).model_dump()) for r in rows]  # no contact
        if not where.received:  # 首问负责: the holder's clocks, as the order has it
            _part_deadlines(session, principal, items, now)
        _follow_up_deadlines(principal, items, now)
        exact = count_limit is None or counted <= count_limit
        total = int(counted) if exact else int(count_limit or 0)
        return QueuePage(total=total, total_exact=exact, limit=limit, offset=offset, items=items)


def _follow_up_status_is(status: SlaStatus, now: datetime) -> Any:
    """The follow-up desk's status filter: a concluded request waiting for its call (待回访)
    is late or on track by the follow-up's deadline (``_follow_up_deadlines``), not stopped
    as its unit's clocks are."""
    by_holder = col(ServiceRequest.sla_status) == status
    follow_up = col(ServiceRequest.follow_up_due_at)
    due = {SlaStatus.BREACHED: follow_up < now, SlaStatus.ON_TRACK: follow_up >= now}.get(status)
    if due is not None:
        return or_(and_(follow_up.is_(None), by_holder), due)
    return and_(follow_up.is_(None), by_holder)


def _follow_up_deadlines(principal: Principal, items: list[RequestItem], now: datetime) -> None:
    """For the follow-up desk, a row waiting for its call is late or on track by the call's
    deadline (the queue orders it so too)."""
    if principal.role is not Role.FOLLOW_UP:
        return
    for item in items:
        if item.follow_up_due_at is not None and item.next_due_at is None:
            late = item.follow_up_due_at < now
            item.sla_status = SlaStatus.BREACHED if late else SlaStatus.ON_TRACK


def _part_deadlines(
    session: Session, principal: Principal, items: list[RequestItem], now: datetime
) -> None:
    """A request the caller's unit co-handles (协办) is marked so (``co_handled``) and is due
    when the unit's open part is, not when its holder's clock runs out: ``next_due_at`` is the
    part's deadline there, and ``sla_status`` says whether the part is late (as the queue's
    order does)."""
    unit = principal.institution_id
    if principal.role is not Role.CASEWORKER:  # a supervisor's queue: the holders' clocks
        return
    held_elsewhere = [i.request_id for i in items if unit and i.institution_id != unit]
    if not held_elsewhere:
        return
    parts = session.exec(
        select(RequestPart.request_id, RequestPart.due_at, RequestPart.closed_at).where(
            col(RequestPart.request_id).in_(held_elsewhere),
            RequestPart.institution_id == unit,
        )
    ).all()
    due = {request_id: due_at for request_id, due_at, closed_at in parts if closed_at is None}
    has_part = {request_id for request_id, _, _ in parts}
    for item in items:
        item.co_handled = item.request_id in has_part
        if item.request_id in due:
            item.next_due_at = due[item.request_id]
            late = item.next_due_at < now
            item.sla_status = SlaStatus.BREACHED if late else SlaStatus.ON_TRACK


def workload(ctx: ApiContext, principal: Principal, institution_id: str) -> Workload:
    """Open requests of one institution per handler (None: nobody handles them yet).

    For the unit's lead: a supervisor counts those of the units in its scope, as with the
    queue, an admin any unit's (caseworkers have no ``reports`` grant; the route refuses
    them).
    """
    where = QueueFilter(institution=institution_id)
    conditions = _conditions(principal, where, ctx.engine.dialect.name, ctx.clock())
    breached = func.sum(case((col(ServiceRequest.sla_status) == SlaStatus.BREACHED, 1), else_=0))
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(ServiceRequest.handler_id, func.count(), breached)
            .where(*conditions)
            .group_by(col(ServiceRequest.handler_id))
            .order_by(func.count().desc(), col(ServiceRequest.handler_id))
        ).all()
    return Workload(
        institution_id=institution_id,
        handlers=[
            HandlerLoad(handler_id=handler, open=int(n), breached=int(late or 0))
            for handler, n, late in rows
        ],
    )


# The CSV export: the queue's fields (never contact details), times in Asia/Shanghai.
CSV_COLUMNS = (
    "request_id",
    "submitted_at",
    "enterprise_name",
    "enterprise_uscc",
    "division_code",
    "scope_division",
    "subject",
    "category",
    "priority",
    "grade",
    "state",
    "awaiting",
    "tier",
    "institution_id",
    "sla_status",
    "next_due_at",
    "follow_up_due_at",
    "signed_for_at",
    "resolved_at",
    "closed_at",
    "escalation_count",
)


def csv_time(at: datetime) -> str:
    """An instant as the CSV exports write it: China's local time, to the minute."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def requests_csv(items: list[RequestItem]) -> str:
    """Return the listed requests as CSV for spreadsheets (UTF-8 with BOM, local times)."""

    def value(item: RequestItem, name: str) -> object:
        found = getattr(item, name)
        if isinstance(found, list):  # awaiting: its codes
            return " ".join(str(code) for code in found)
        if isinstance(found, datetime):
            return csv_time(found)
        return found.value if isinstance(found, StrEnum) else found

    return to_csv(CSV_COLUMNS, ([value(i, n) for n in CSV_COLUMNS] for i in items))


async def get_request(ctx: ApiContext, principal: Principal, request_id: str) -> RequestDetail:
    """Return the read model row, the full audit timeline and the workflow's live view."""
    require(principal, "read")
    found = await find_in_scope(ctx, principal, request_id)
    row, view = found.row, found.view
    permitted = allowed_kinds(principal)
    following = found.sight is Sight.RECEIVED  # 首问负责: read only
    offered = views.offered_to(view, principal.actor) if view and not following else []
    allowed = [k for k in offered if k in permitted]
    with Session(ctx.engine) as session:
        trail = repository.transitions(session, request_id)
        # the view has its own holds: the read model's are read only when it is missing
        stays = repository.tier_holds(session, request_id) if found.missing else []
        holds = [TierHoldBase.model_validate(stay.model_dump()) for stay in stays]
    timeline = [
        TimelineEntry(
            sequence=t.sequence,
            event_type=t.event_type,
            occurred_at=t.occurred_at,
            actor_id=t.actor_id,
            actor_role=t.actor_role,
            from_state=t.from_state,
            to_state=t.to_state,
            tier=t.to_tier,
            institution_id=t.institution_id,
            reason=t.reason,
            facts=timeline_facts(t.details or {}),
            attachments=(t.details or {}).get("attachments") or [],
        )
        for t in trail
    ]
    shown = None if row is None else to_row(row, principal, co_handled=found.co_handled)
    return RequestDetail(
        request_id=request_id,
        request=shown,
        view=view,
        allowed_actions=allowed,
        timeline=timeline,
        holds=holds,
        grade_declared=view.summary.grade if view else (row.grade if row else None),
        grade_applied=view.grade_applied if view else None,
        view_missing=found.missing,
        received_first=following,
    )


@dataclass(frozen=True)
class OnFile:
    """What a walk-in form fills in from an enterprise's earlier request: its name and
    division, and its contact only where ``api.contact.prefills_contact`` allows."""

    request_id: str
    submitted_at: datetime
    enterprise_name: str
    division_code: str
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    contact_withheld: bool = False  # the request had a contact the caller is not given


def last_seen_enterprise(ctx: ApiContext, principal: Principal, uscc: str) -> OnFile | None:
    """What the enterprise ``uscc`` gave on the caller's latest request of it in scope, for a
    walk-in form to fill in and the window to check, rather than have it typed again at each
    visit. The contact only for the unit that held that request (``prefills_contact``): the
    USCC is public, the contact is not. None for a caller who may not read requests (a
    system client granted ``submit`` alone)."""
    if not can(principal, "read"):
        return None
    query = (
        select(ServiceRequest)
        # a 整改 its unit owes on a request held elsewhere is not where it serves the
        # enterprise now: it gives no contact (``prefills_contact``), an earlier one may
        .where(
            ServiceRequest.enterprise_uscc == uscc,
            *scope_conditions(principal, rectifying=False),
        )
        .order_by(col(ServiceRequest.submitted_at).desc())
        .limit(1)
    )
    with Session(ctx.engine) as session:
        last = session.exec(query).first()
        submitted = None
        if last is not None:
            submitted = session.exec(
                select(Transition.actor_role, Transition.actor_institution_id).where(
                    Transition.request_id == last.request_id,
                    Transition.event_type == EventType.SUBMITTED,
                )
            ).first()
    if last is None:
        return None
    submitter = Submitter(*submitted) if submitted is not None else None
    given = prefills_contact(principal, last, submitter=submitter)
    contact = (last.contact_name, last.contact_phone, last.contact_email)
    return OnFile(
        request_id=last.request_id,
        submitted_at=last.submitted_at,
        enterprise_name=last.enterprise_name,
        division_code=last.division_code,
        contact_name=last.contact_name if given else None,
        contact_phone=last.contact_phone if given else None,
        contact_email=last.contact_email if given else None,
        contact_withheld=not given and any(contact),
    )
