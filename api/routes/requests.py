"""Submit requests, list the caller's queue by SLA risk, and open one request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from sqlalchemy import case, func
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.auth import allowed_kinds, can, scope_conditions
from api.deps import Ctx, CurrentPrincipal, submit_rate
from api.lookup import find_in_scope, to_row
from api.models import ErrorOut, QueuePage, RequestDetail, RequestItem, SubmitAccepted
from api.routes import API_PREFIX
from schemas.domain import Category, Priority, SlaStatus, State, Tier
from schemas.lifecycle import WorkflowState
from schemas.request import RequestInput
from tierflow.auth_store import Principal
from tierflow.constants import workflow_id
from tierflow.db.models import ServiceRequest
from workflows.service_request import ServiceRequestWorkflow

router = APIRouter(prefix=f"{API_PREFIX}/requests", tags=["requests"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"},
    403: {"model": ErrorOut, "description": "The caller's role may not do this"},
}
TERMINAL = [s.value for s in State if s.is_terminal]


def require(principal: Principal, grant: str) -> None:
    if not can(principal, grant):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{principal.role.value} {principal.user_id} may not {grant}"
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmitAccepted,
    responses={**ERRORS, 409: {"model": ErrorOut}, 429: {"model": ErrorOut}},
)
async def submit_request(
    body: RequestInput, ctx: Ctx, principal: Annotated[Principal, Depends(submit_rate)]
) -> SubmitAccepted:
    """Start the request's workflow (an already running one with that id is kept)."""
    require(principal, "submit")
    request = body.model_copy(update={"submitted_by": principal.actor})
    wf_id = workflow_id(request.request_id)
    try:
        handle: WorkflowHandle = await ctx.temporal.start_workflow(
            ServiceRequestWorkflow.run,
            WorkflowState(request=request),
            id=wf_id,
            task_queue=ctx.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"request_id: {request.request_id!r} belongs to a request that has already finished",
        ) from None
    return SubmitAccepted(request_id=request.request_id, workflow_id=handle.id, status="accepted")


@router.get("", response_model=QueuePage, responses=ERRORS)
def list_requests(
    ctx: Ctx,
    principal: CurrentPrincipal,
    institution: Annotated[str | None, Query(max_length=64)] = None,
    tier: Tier | None = None,
    state: State | None = None,
    category: Category | None = None,
    priority: Priority | None = None,
    sla_status: SlaStatus | None = None,
    include_closed: Annotated[
        bool, Query(description="Include closed, withdrawn and rejected requests")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> QueuePage:
    """Return the caller's queue: breached first, then the nearest SLA deadline first."""
    require(principal, "read")
    conditions = scope_conditions(principal)
    filters: list[tuple[Any, Any]] = [
        (ServiceRequest.institution_id, institution),
        (ServiceRequest.tier, tier),
        (ServiceRequest.state, state),
        (ServiceRequest.category, category),
        (ServiceRequest.priority, priority),
        (ServiceRequest.sla_status, sla_status),
    ]
    conditions += [column == value for column, value in filters if value is not None]
    if state is None and not include_closed:
        conditions.append(col(ServiceRequest.state).not_in(TERMINAL))
    next_due = func.coalesce(ServiceRequest.response_due_at, ServiceRequest.resolution_due_at)
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


@router.get(
    "/{request_id}",
    response_model=RequestDetail,
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "Unknown or out of scope"}},
)
async def get_request(
    request_id: Annotated[str, Path(max_length=64)], ctx: Ctx, principal: CurrentPrincipal
) -> RequestDetail:
    """Return the read model row and the workflow's view (timeline, clocks, holds)."""
    require(principal, "read")
    row, view = await find_in_scope(ctx, principal, request_id)
    permitted = allowed_kinds(principal)
    allowed = [k for k in (view.allowed_actions if view else []) if k in permitted]
    return RequestDetail(
        request_id=request_id,
        request=to_row(row) if row is not None else None,
        view=view,
        allowed_actions=allowed,
    )
