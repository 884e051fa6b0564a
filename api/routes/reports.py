"""Reports over the read model, limited to the caller's scope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AfterValidator

from api.auth import require
from api.deps import Ctx, CurrentPrincipal
from api.downloads import csv_attachment
from api.models import (
    AssessmentReport,
    ErrorOut,
    EscalationReport,
    SlaReport,
    SummaryReport,
    Workload,
)
from api.routes import API_PREFIX
from api.service import assessment as assessing
from api.service import reports as service
from api.service import requests as listings
from schemas.edge import INSTITUTION_ID_PATTERN, check_aware

router = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["reports"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"},
    403: {"model": ErrorOut, "description": "The caller may not see reports"},
}
# A time without a zone is refused (422 naming it), as everywhere a caller sends one.
Since = Annotated[
    datetime | None,
    Query(description="Start, with a time zone (default: 30 days before until)"),
    AfterValidator(check_aware),
]
Until = Annotated[
    datetime | None,
    Query(description="End, with a time zone (default: now)"),
    AfterValidator(check_aware),
]
By = Annotated[
    str,
    Query(
        max_length=16,
        description="Add the figures up per institution (default), tier, province or city",
    ),
]


@router.get("/summary", response_model=SummaryReport, responses=ERRORS)
def summary(ctx: Ctx, principal: CurrentPrincipal) -> SummaryReport:
    """Count the requests in scope by tier, state and category."""
    return service.summary_report(ctx, principal)


@router.get("/sla", response_model=SlaReport, responses=ERRORS)
def sla(
    ctx: Ctx, principal: CurrentPrincipal, since: Since = None, until: Until = None
) -> SlaReport:
    """Return SLA attainment per institution and tier for holds begun in the period: of the
    caller's units (a supervisor's region at their tier and below, as 考核 counts them),
    wherever the requests went since."""
    return service.sla_report(ctx, principal, since, until)


@router.get("/escalations", response_model=EscalationReport, responses=ERRORS)
def escalations(
    ctx: Ctx, principal: CurrentPrincipal, since: Since = None, until: Until = None
) -> EscalationReport:
    """Count escalations in the period by tiers, cause (SLA breach or manual) and reason code:
    those out of the caller's units, wherever the requests went since."""
    return service.escalation_report(ctx, principal, since, until)


@router.get("/workload", response_model=Workload, responses=ERRORS)
def workload(
    ctx: Ctx,
    principal: CurrentPrincipal,
    institution: Annotated[
        str,
        Query(
            pattern=INSTITUTION_ID_PATTERN,
            max_length=64,
            description="The institution whose open requests are counted per handler",
        ),
    ],
) -> Workload:
    """Open requests of one institution per handler (承办人), for the unit's lead."""
    require(principal, "reports")
    return listings.workload(ctx, principal, institution)


def _assessment(
    ctx: Ctx,
    principal: CurrentPrincipal,
    since: Since = None,
    until: Until = None,
    by: By = "institution",
) -> AssessmentReport:
    """The report both assessment routes answer with (FastAPI reads its query parameters)."""
    return assessing.assessment(ctx, principal, since, until, by)


Assessment = Annotated[AssessmentReport, Depends(_assessment)]


@router.get("/assessment", response_model=AssessmentReport, responses=ERRORS)
def assessment(report: Assessment) -> AssessmentReport:
    """考核: on-time sign-for, response, on-time conclusion, resolution and satisfaction rates
    and the counts institutions are assessed by, per institution in scope (or added up by
    tier, province or city), for the period."""
    return report


@router.get(
    "/assessment.csv",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM"}},
)
def assessment_csv(report: Assessment) -> Response:
    """The assessment as CSV, one row per institution or group."""
    return csv_attachment(assessing.assessment_csv(report), "assessment.csv")
