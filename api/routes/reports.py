"""Reports over the read model, limited to the caller's scope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Ctx, CurrentPrincipal
from api.models import ErrorOut, EscalationReport, SlaReport, SummaryReport
from api.routes import API_PREFIX
from api.service import reports as service

router = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["reports"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"},
    403: {"model": ErrorOut, "description": "The caller may not see reports"},
}
Since = Annotated[datetime | None, Query(description="Start (default: 30 days before until)")]
Until = Annotated[datetime | None, Query(description="End (default: now)")]


@router.get("/summary", response_model=SummaryReport, responses=ERRORS)
def summary(ctx: Ctx, principal: CurrentPrincipal) -> SummaryReport:
    """Count the requests in scope by tier, state and category."""
    return service.summary_report(ctx, principal)


@router.get("/sla", response_model=SlaReport, responses=ERRORS)
def sla(
    ctx: Ctx, principal: CurrentPrincipal, since: Since = None, until: Until = None
) -> SlaReport:
    """Return SLA attainment per institution and tier for holds begun in the period."""
    return service.sla_report(ctx, principal, since, until)


@router.get("/escalations", response_model=EscalationReport, responses=ERRORS)
def escalations(
    ctx: Ctx, principal: CurrentPrincipal, since: Since = None, until: Until = None
) -> EscalationReport:
    """Count escalations in the period by tiers and cause (SLA breach or manual)."""
    return service.escalation_report(ctx, principal, since, until)
