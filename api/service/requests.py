"""Submit a request, list the caller's queue by SLA risk, and open one request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from api.auth import allowed_kinds, require, scope_conditions
from api.deps import ApiContext
from api.lookup import find_in_scope, to_row
from api.models import QueuePage, RequestDetail, RequestItem, SubmitAccepted
from schemas.domain import TERMINAL_STATES, Category, Priority, SlaStatus, State, Tier
from schemas.lifecycle import TimelineEntry
from schemas.request import RequestInput
from tierflow import submission
from tierflow.auth_store import Principal
from tierflow.constants import workflow_id
from tierflow.db import repository
from tierflow.db.models import ServiceRequest
from tierflow.submission import RequestFinished, SubmitConflict


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


async def submit_request(
    ctx: ApiContext, principal: Principal, body: RequestInput
) -> SubmitAccepted:
    """Start the request's workflow (an already running one with that id is kept)."""
    require(principal, "submit")
    request = body.model_copy(update={"submitted_by": principal.actor})
    try:
        await submission.submit_request(ctx.temporal, request, ctx.settings.task_queue)
    except (RequestFinished, SubmitConflict) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return SubmitAccepted(
        request_id=request.request_id,
        workflow_id=workflow_id(request.request_id),
        status="accepted",
    )


def list_requests(
    ctx: ApiContext, principal: Principal, where: QueueFilter, limit: int = 50, offset: int = 0
) -> QueuePage:
    """Return the caller's queue: breached first, then the nearest SLA deadline first."""
    require(principal, "read")
    conditions = scope_conditions(principal)
    filters: list[tuple[Any, Any]] = [
        (ServiceRequest.institution_id, where.institution),
        (ServiceRequest.tier, where.tier),
        (ServiceRequest.state, where.state),
        (ServiceRequest.category, where.category),
        (ServiceRequest.priority, where.priority),
        (ServiceRequest.sla_status, where.sla_status),
    ]
    conditions += [column == value for column, value in filters if value is not None]
    if where.signed_for is not None:
        signed = col(ServiceRequest.signed_for_at)
        conditions.append(signed.is_not(None) if where.signed_for else signed.is_(None))
    if where.state is None and not where.include_closed:
        conditions.append(col(ServiceRequest.state).not_in(sorted(TERMINAL_STATES)))
    next_due = func.coalesce(
        ServiceRequest.sign_for_due_at,
        ServiceRequest.response_due_at,
        ServiceRequest.resolution_due_at,
    )
    breached_first = case((col(ServiceRequest.sla_status) == SlaStatus.BREACHED, 0), else_=1)
    with Session(ctx.engine) as session:
        total = session.exec(select(func.count()).select_from(ServiceRequest).where(*conditions))
        rows = session.exec(
            select(ServiceRequest)
            .where(*conditions)
            .order_by(
                breached_first,
                next_due.asc().nulls_last(),
                col(ServiceRequest.submitted_at),
                col(ServiceRequest.request_id),
            )
            .offset(offset)
            .limit(limit)
        ).all()
        items = [RequestItem.model_validate(to_row(r).model_dump()) for r in rows]
        return QueuePage(total=int(total.one()), limit=limit, offset=offset, items=items)


async def get_request(ctx: ApiContext, principal: Principal, request_id: str) -> RequestDetail:
    """Return the read model row, the full audit timeline and the workflow's live view."""
    require(principal, "read")
    row, view = await find_in_scope(ctx, principal, request_id)
    permitted = allowed_kinds(principal)
    allowed = [k for k in (view.allowed_actions if view else []) if k in permitted]
    with Session(ctx.engine) as session:
        trail = repository.transitions(session, request_id)
    timeline = [
        TimelineEntry(
            sequence=t.sequence,
            event_type=t.event_type,
            occurred_at=t.occurred_at,
            actor_id=t.actor_id,
            from_state=t.from_state,
            to_state=t.to_state,
            tier=t.to_tier,
            institution_id=t.institution_id,
            reason=t.reason,
        )
        for t in trail
    ]
    return RequestDetail(
        request_id=request_id,
        request=to_row(row) if row is not None else None,
        view=view,
        allowed_actions=allowed,
        timeline=timeline,
        grade_declared=view.summary.grade if view else (row.grade if row else None),
        grade_applied=view.grade_applied if view else None,
    )
