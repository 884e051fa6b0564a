"""Find one request for a caller: read model row plus the workflow's live view, in scope."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum

from fastapi import HTTPException, status
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import co_handling, in_scope, receiving_unit, rectifies
from api.contact import shown_to
from api.deps import ApiContext
from api.errors import TEMPORAL_NOT_NOW
from api.models import RequestRow, ViewMissing
from schemas.domain import Role
from schemas.lifecycle import RequestSummary, RequestView, next_due
from schemas.messages import N_, Said
from tierflow.auth_store import Principal
from tierflow.constants import workflow_id
from tierflow.db.models import RequestPart, ServiceRequest, awaiting_codes
from workflows.service_request import ServiceRequestWorkflow

log = logging.getLogger(__name__)


def not_found(request_id: str) -> HTTPException:
    """404 for a request that is not there or not the caller's (the same answer for both)."""
    missing = Said(N_("request %(id)r not found"), id=request_id)
    return HTTPException(status.HTTP_404_NOT_FOUND, missing)


def read_row(ctx: ApiContext, request_id: str) -> ServiceRequest | None:
    with Session(ctx.engine) as session:
        return session.get(ServiceRequest, request_id)


def whole_row(row: ServiceRequest) -> RequestRow:
    """The read model's row as the API shapes it, contact whole: for what leaves without the
    contact (a queue's items), or through ``to_row``."""
    return RequestRow.model_validate(
        {
            **row.model_dump(),
            "next_due_at": next_due(row),
            "awaiting": awaiting_codes(row.awaiting),
        }
    )


def to_row(row: ServiceRequest, caller: Principal, *, co_handled: bool = False) -> RequestRow:
    """Return the read model's row as ``caller`` may see it: the contact whole or masked
    (``api.contact``); ``co_handled``: the caller's unit co-handles the request (协办)."""
    return shown_to(caller, whole_row(row), co_handled=co_handled)


class WorkflowForgotten(Exception):
    """Temporal has no workflow of the request's id: never started, or deleted once the
    namespace's retention passed after it ended (the read model keeps the request)."""


class Sight(Enum):
    """Why the caller may see a request."""

    SCOPE = "scope"  # held in the caller's scope (api.auth.in_scope)
    CO_HANDLED = "co_handled"  # the caller's unit co-handles a part of it (协办)
    RECEIVED = "received"  # the caller's unit received it first and follows it (首问负责)
    RECTIFYING = "rectifying"  # the caller's unit owes a step of its 整改 (api.auth.rectifies)


@dataclass(frozen=True)
class Found:
    """A request the caller may see: its read-model row and the workflow's view (either may
    be missing: see ``find_in_scope``)."""

    row: ServiceRequest | None
    view: RequestView | None
    missing: ViewMissing | None = None  # why a row comes without the view
    sight: Sight = Sight.SCOPE

    @property
    def co_handled(self) -> bool:
        return self.sight is Sight.CO_HANDLED


async def query_view(ctx: ApiContext, request_id: str) -> RequestView | None:
    """Return the workflow's view, or None when it does not answer with one.

    Raises WorkflowForgotten when Temporal has no workflow of that id."""
    handle = ctx.temporal.get_workflow_handle(workflow_id(request_id))
    try:
        wait = timedelta(seconds=ctx.limits.view_wait_seconds)
        return await handle.query(ServiceRequestWorkflow.view, rpc_timeout=wait)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowForgotten(request_id) from exc
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return None
        raise
    except WorkflowQueryFailedError:
        return None


async def find_in_scope(
    ctx: ApiContext, principal: Principal, request_id: str, *, live: bool = True
) -> Found:
    """Return the row and view of a request the caller may see; 404 if unknown or out of
    scope.

    The scope is judged on the read model's row, which a transition's record writes before
    the transition answers; the live workflow is queried only for a caller in scope who
    needs its view (``live``), or when the request has no row yet (it was just submitted).
    Every query is a workflow task on a worker (a whole replay for an ended request), and one
    that arrives beside another caller's update is what the SDK can hand over out of order
    (runbook, step 6): an action, or a caller out of scope, sends none.
    """
    row = await run_in_threadpool(read_row, ctx, request_id)
    if row is not None:
        sight = await _check_scope(ctx, principal, request_id, row)
        if not live:
            return Found(row, None, sight=sight)
        return replace(await _row_and_view(ctx, request_id, row), sight=sight)
    try:
        view = await query_view(ctx, request_id)
    except WorkflowForgotten:
        view = None
    if view is None:
        raise not_found(request_id)
    return Found(None, view, sight=await _check_scope(ctx, principal, request_id, view.summary))


async def _row_and_view(ctx: ApiContext, request_id: str, row: ServiceRequest) -> Found:
    """The row with the workflow's view; the row alone, saying why, when Temporal no longer
    keeps the workflow, cannot answer now (an outage, its tasks failing) or the workflow does
    not answer: the read model still shows the request and its audit trail."""
    if ctx.client is None:  # not connected yet (the API started while Temporal was away)
        return Found(row, None, ViewMissing.UNAVAILABLE)
    try:
        view = await query_view(ctx, request_id)
    except WorkflowForgotten:
        return Found(row, None, ViewMissing.FORGOTTEN)
    except RPCError as exc:
        if exc.status not in TEMPORAL_NOT_NOW:
            raise
        log.warning("request %s read without its view: %s (%s)", request_id, exc.status.name, exc)
        return Found(row, None, ViewMissing.UNAVAILABLE)
    return Found(row, view, None if view is not None else ViewMissing.NO_ANSWER)


async def _check_scope(
    ctx: ApiContext, principal: Principal, request_id: str, held: ServiceRequest | RequestSummary
) -> Sight:
    """404 unless the caller's scope holds the request, its unit co-handles a part, owes a
    step of its 整改, or received it first; return which."""
    if in_scope(principal, held):
        return Sight.SCOPE
    if await run_in_threadpool(co_handles, ctx, principal, request_id):
        return Sight.CO_HANDLED
    if rectifies(principal, held):
        return Sight.RECTIFYING
    if isinstance(held, ServiceRequest) and received_first(principal, held):
        return Sight.RECEIVED
    raise not_found(request_id)


def received_first(principal: Principal, row: ServiceRequest) -> bool:
    """首问负责: whether the caller's unit received the request first (registered it at its
    window, or was the first sent it), so that its caseworkers and its lead can answer the
    enterprise where the request stands once another unit holds it."""
    unit = receiving_unit(principal)
    return unit is not None and unit in (row.registered_by, row.first_holder)


def co_handles(ctx: ApiContext, principal: Principal, request_id: str) -> bool:
    """Whether the caller's unit co-handles (协办) an open part of the request, or owes a
    supervision of its late part a reply: a part concluded or waived, and answered for,
    gives no more sight of the enterprise's details than any other unit has."""
    if principal.role is not Role.CASEWORKER or principal.institution_id is None:
        return False
    with Session(ctx.engine) as session:
        part = session.exec(
            select(RequestPart.id).where(
                RequestPart.request_id == request_id, co_handling(principal.institution_id)
            )
        ).first()
    return part is not None
