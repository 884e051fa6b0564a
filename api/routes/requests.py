"""Submit requests, list the caller's queue by SLA risk, and open one request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import AwareDatetime

from api.deps import Ctx, CurrentPrincipal, ReadingPrincipal, submit_rate
from api.downloads import csv_attachment
from api.errors import refuse_unknown_fields
from api.models import ErrorOut, QueuePage, RequestDetail, SubmitAccepted
from api.routes import API_PREFIX
from api.service import requests as service
from schemas.domain import Category, Priority, SlaStatus, State, Tier
from schemas.edge import INSTITUTION_ID_PATTERN, SEARCH_BYTES, USER_ID_PATTERN
from schemas.enterprise import Uscc
from schemas.lifecycle import Awaiting
from schemas.request import REQUEST_ID_PATTERN, RequestInput
from tierflow.auth_store import Principal

router = APIRouter(prefix=f"{API_PREFIX}/requests", tags=["requests"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"},
    403: {"model": ErrorOut, "description": "The caller's role may not do this"},
}
CSV_MAX_ROWS = 10_000  # rows in one CSV export at most (page with offset for more)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmitAccepted,
    responses={
        **ERRORS,
        409: {
            "model": ErrorOut,
            "description": "The request id was submitted before with other content, or its "
            "request has ended (a new request takes a new id)",
        },
        429: {"model": ErrorOut, "description": "Over the token's submit rate (Retry-After)"},
    },
)
async def submit_request(
    body: RequestInput,
    request: Request,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(submit_rate)],
    wait: Annotated[
        bool,
        Query(
            description=f"Wait (up to {service.ROUTING_WAIT_SECONDS:.0f} s) until the request "
            "is routed and say where: tier, institution_id and whether the caller may read it "
            "(in_scope)"
        ),
    ] = False,
) -> SubmitAccepted:
    """Start the request's workflow (an already running one with that id is kept); a field
    the request does not have is refused (422 naming it)."""
    refuse_unknown_fields(RequestInput, await request.json())
    return await service.submit_request(ctx, principal, body, wait=wait)


def queue_filter(
    institution: Annotated[
        str | None,
        Query(
            pattern=INSTITUTION_ID_PATTERN,
            max_length=64,
            description="Held by this institution (its directory id)",
        ),
    ] = None,
    tier: Annotated[Tier | None, Query(description="Held at this tier")] = None,
    state: Annotated[
        State | None, Query(description="In this state (any state, closed ones too)")
    ] = None,
    category: Annotated[Category | None, Query(description="Of this service category")] = None,
    priority: Annotated[Priority | None, Query(description="Of this priority")] = None,
    sla_status: Annotated[
        SlaStatus | None, Query(description="The worst status of its holder's clocks")
    ] = None,
    include_closed: Annotated[
        bool, Query(description="Include closed, withdrawn and rejected requests")
    ] = False,
    signed_for: Annotated[
        bool | None,
        Query(description="false: only requests their holder has not signed for yet (待签收)"),
    ] = None,
    search: Annotated[
        str | None,
        Query(
            max_length=SEARCH_BYTES,
            description="Enterprise name or subject contains it (Chinese substring), or the "
            "USCC or request id starts with it; % and _ are plain characters. At most "
            f"{SEARCH_BYTES} bytes of UTF-8",
        ),
    ] = None,
    handler: Annotated[
        str | None,
        Query(pattern=USER_ID_PATTERN, description="Handled by this caseworker (承办人)"),
    ] = None,
    mine: Annotated[bool, Query(description="Only what the caller handles")] = False,
    awaiting: Annotated[
        list[Awaiting] | None,
        Query(
            description="Worklists: what the request waits for besides its unit (follow_up "
            "待回访, return_decision 退单待决定, extension_decision 延期待审批, "
            "suspension_decision 挂起待审批, appeal_decision 申诉待决定, supervision_reply "
            "督办待回复, which holds rectification_reply too: a rated unit's reply to the 督办 "
            "of its 整改 where another unit holds the request); repeated, any of them (the "
            "dispatch desk's: return_decision and extension_decision)"
        ),
    ] = None,
    escalated: Annotated[
        bool, Query(description="Only requests escalated at least once (上报转入)")
    ] = False,
    received: Annotated[
        bool,
        Query(
            description="首问负责: the requests the caller's unit received first (registered "
            "them or was the first sent them) that another unit holds now, in place of the "
            "caller's queue; for a unit's caseworkers and its lead (read only)"
        ),
    ] = False,
    uscc: Annotated[
        Uscc | None,
        Query(
            description="Of this enterprise only: its unified social credit code (统一社会信用"
            "代码), exactly (a portal listing one enterprise's requests)"
        ),
    ] = None,
    needs_operator: Annotated[
        bool,
        Query(
            description="Only requests a permanently failed step holds for an operator "
            "(operator_retry or operator_resolve, admins)"
        ),
    ] = False,
    updated_since: Annotated[
        AwareDatetime | None,
        Query(
            description="Only requests whose last step was at or after this instant (RFC "
            "3339 with its offset), closed ones too. A step's row is written a moment after "
            "the step, so a client polling for changes (sort=updated) passes the last "
            "updated_at it saw less a margin (a minute) and skips the (request_id, "
            "updated_at) it has seen"
        ),
    ] = None,
) -> service.QueueFilter:
    """The filters a listing and its CSV export share."""
    return service.QueueFilter(
        institution,
        tier,
        state,
        category,
        priority,
        sla_status,
        include_closed,
        signed_for,
        search,
        handler,
        mine,
        tuple(dict.fromkeys(awaiting or ())),
        escalated,
        received,
        uscc,
        needs_operator,
        updated_since,
    )


Filter = Annotated[service.QueueFilter, Depends(queue_filter)]
Sort = Annotated[
    service.QueueSort,
    Query(
        description="risk: breached first, then nearest deadline; newest/oldest: by "
        "submission; updated: by the last step, earliest first (for polling)"
    ),
]


@router.get("", response_model=QueuePage, responses=ERRORS)
def list_requests(
    ctx: Ctx,
    principal: CurrentPrincipal,
    where: Filter,
    sort: Sort = service.QueueSort.RISK,
    limit: Annotated[int, Query(ge=1, le=500, description="Rows in this page")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Rows skipped before it")] = 0,
) -> QueuePage:
    """Return the caller's requests that match: by SLA risk (the queue's order) or date."""
    return service.list_requests(ctx, principal, where, limit, offset, sort)


@router.get(
    ".csv",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM"}},
)
def export_requests(
    ctx: Ctx,
    principal: CurrentPrincipal,
    where: Filter,
    sort: Sort = service.QueueSort.RISK,
    limit: Annotated[int, Query(ge=1, le=CSV_MAX_ROWS, description="Rows in the file")] = (
        CSV_MAX_ROWS
    ),
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Rows skipped before it")] = 0,
) -> Response:
    """Return the same listing as CSV (no contact details); X-Total-Count gives all matches."""
    page = service.list_requests(ctx, principal, where, limit, offset, sort, count_limit=None)
    return csv_attachment(service.requests_csv(page.items), "requests.csv", page.total)


@router.get(
    "/{request_id}",
    response_model=RequestDetail,
    responses={
        **ERRORS,
        404: {"model": ErrorOut, "description": "Unknown or out of scope"},
        429: {"model": ErrorOut, "description": "Over the token's read rate (Retry-After)"},
    },
)
async def get_request(
    request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, max_length=64)],
    ctx: Ctx,
    principal: ReadingPrincipal,
) -> RequestDetail:
    """Return the read model row and the workflow's view (timeline, clocks, holds); the
    enterprise's contact in full only to those who reach it, else masked (contact_masked).
    Reads are rate-limited per token (429 with Retry-After)."""
    return await service.get_request(ctx, principal, request_id)
