"""Find one request for a caller: read model row plus the workflow's live view, in scope."""

from __future__ import annotations

from datetime import timedelta

from fastapi import HTTPException, status
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import in_scope
from api.deps import ApiContext
from api.models import RequestRow
from schemas.domain import Role
from schemas.lifecycle import RequestView, next_due
from schemas.messages import N_, Said
from tierflow.auth_store import Principal
from tierflow.constants import workflow_id
from tierflow.db.models import RequestPart, ServiceRequest, awaiting_codes
from workflows.service_request import ServiceRequestWorkflow

QUERY_TIMEOUT = timedelta(seconds=10)


def not_found(request_id: str) -> HTTPException:
    """404 for a request that is not there or not the caller's (the same answer for both)."""
    missing = Said(N_("request %(id)r not found"), id=request_id)
    return HTTPException(status.HTTP_404_NOT_FOUND, missing)


def read_row(ctx: ApiContext, request_id: str) -> ServiceRequest | None:
    with Session(ctx.engine) as session:
        return session.get(ServiceRequest, request_id)


def to_row(row: ServiceRequest) -> RequestRow:
    return RequestRow.model_validate(
        {
            **row.model_dump(),
            "next_due_at": next_due(row),
            "awaiting": awaiting_codes(row.awaiting),
        }
    )


async def query_view(ctx: ApiContext, request_id: str) -> RequestView | None:
    """Return the workflow's view, or None when no workflow has that id."""
    handle = ctx.temporal.get_workflow_handle(workflow_id(request_id))
    try:
        return await handle.query(ServiceRequestWorkflow.view, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise
    except WorkflowQueryFailedError:
        return None


async def find_in_scope(
    ctx: ApiContext, principal: Principal, request_id: str
) -> tuple[ServiceRequest | None, RequestView | None]:
    """Return (row, view) of a request the caller may see; 404 if unknown or out of scope."""
    row = await run_in_threadpool(read_row, ctx, request_id)
    view = await query_view(ctx, request_id)
    summary = view.summary if view is not None else row
    if summary is None:
        raise not_found(request_id)
    if not in_scope(principal, summary.tier, summary.institution_id, summary.division_code):
        if not await run_in_threadpool(co_handles, ctx, principal, request_id):
            raise not_found(request_id)
    return row, view


def co_handles(ctx: ApiContext, principal: Principal, request_id: str) -> bool:
    """Whether the caller's unit co-handles (协办) a part of the request."""
    if principal.role is not Role.CASEWORKER or principal.institution_id is None:
        return False
    with Session(ctx.engine) as session:
        part = session.exec(
            select(RequestPart.id).where(
                RequestPart.request_id == request_id,
                RequestPart.institution_id == principal.institution_id,
            )
        ).first()
    return part is not None
