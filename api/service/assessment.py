"""考核: the figures institutions are assessed by, for a period, in the caller's scope.

What each figure counts is ``tierflow.assessment``'s; this module adds the caller's scope and
period, the API's models, the CSV export and the console's drill-down to the requests behind
a number.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from api.auth import assessed_units
from api.deps import ApiContext
from api.errors import field_error
from api.models import AssessmentReport, AssessmentRow
from api.service.reports import report_period
from tierflow import assessment as figures
from tierflow.auth_store import Principal
from tierflow.csv_text import to_csv
from tierflow.db.models import ServiceRequest


def assessment(
    ctx: ApiContext,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
    by: str = "institution",
) -> AssessmentReport:
    """The assessment figures in the caller's scope for the period, per institution or added
    up by tier, province or city."""
    start, end = report_period(principal, since, until)
    _check_grouping(by)
    tallies = figures.tally(ctx.engine, [], (start, end), assessed_units(principal))
    rows = [
        AssessmentRow(
            group=key,
            institution_id=key if by == "institution" else None,
            tier=t.tier,
            **t.figures(),
        )
        for key, t in figures.regroup(ctx.engine, tallies, by).items()
    ]
    return AssessmentReport(since=start, until=end, by=by, rows=rows)


def _check_grouping(by: str) -> None:
    if by not in figures.GROUPINGS:
        raise field_error(("query", "by"), f"must be one of {', '.join(figures.GROUPINGS)}")


def assessment_csv(report: AssessmentReport) -> str:
    """The report as CSV for Excel (UTF-8 with BOM), one row per institution or group."""
    fields = list(AssessmentRow.model_fields)
    rows = [[getattr(row, name) for name in fields] for row in report.rows]
    return to_csv(fields, rows)


ID_BATCH = 1000  # request ids per statement
BehindRow = tuple[figures.Mark, bool | None, ServiceRequest | None]


def requests_behind(
    ctx: ApiContext,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
    group: str,
    figure: str,
    by: str = "institution",
    shown: int | None = None,
) -> list[BehindRow]:
    """The rows behind one group's figure, each with its request's read-model row: the first
    ``shown`` rows' (None: all), as a page shows only so many of a year's hundreds of
    thousands (and a statement takes at most 65,535 parameters)."""
    period = report_period(principal, since, until)
    _check_grouping(by)
    if figure not in figures.FIGURES:
        raise field_error(("query", "figure"), f"must be one of {', '.join(figures.FIGURES)}")
    units = figures.members(ctx.engine, by, group)
    found = figures.behind(ctx.engine, [], period, units, figure, assessed_units(principal))
    ids = sorted({mark.request_id for mark in found[:shown]})
    by_id: dict[str, ServiceRequest] = {}
    with Session(ctx.engine) as session:
        for start in range(0, len(ids), ID_BATCH):
            batch = ids[start : start + ID_BATCH]
            rows = session.exec(
                select(ServiceRequest).where(col(ServiceRequest.request_id).in_(batch))
            )
            by_id |= {row.request_id: row for row in rows.all()}
        for row in by_id.values():
            session.expunge(row)
    return [(mark, mark.counts, by_id.get(mark.request_id)) for mark in found]
