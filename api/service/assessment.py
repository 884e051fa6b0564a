"""考核: the figures institutions are assessed by, for a period, in the caller's scope.

What each figure counts is ``tierflow.assessment``'s; this module adds the caller's scope and
period, the API's models, the CSV export and the console's drill-down to the requests behind
a number.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from api.auth import scope_conditions
from api.deps import ApiContext
from api.errors import field_error
from api.models import AssessmentReport, AssessmentRow
from api.service.reports import report_period
from tierflow import assessment as figures
from tierflow.auth_store import Principal
from tierflow.csv_text import to_csv
from tierflow.db.models import ServiceRequest


def assessment(
    ctx: ApiContext, principal: Principal, since: datetime | None, until: datetime | None
) -> AssessmentReport:
    """The assessment figures of every institution in the caller's scope for the period."""
    start, end = report_period(principal, since, until)
    tallies = figures.tally(ctx.engine, scope_conditions(principal), (start, end))
    rows = [
        AssessmentRow(institution_id=unit, tier=t.tier, **t.figures())
        for unit, t in tallies.items()
    ]
    return AssessmentReport(since=start, until=end, rows=rows)


def assessment_csv(report: AssessmentReport) -> str:
    """The report as CSV for Excel (UTF-8 with BOM), one row per institution."""
    fields = list(AssessmentRow.model_fields)
    rows = [[getattr(row, name) for name in fields] for row in report.rows]
    return to_csv(fields, rows)


BehindRow = tuple[figures.Mark, bool | None, ServiceRequest | None]


def requests_behind(
    ctx: ApiContext,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
    institution: str,
    figure: str,
) -> list[BehindRow]:
    """The rows behind one institution's figure, each with its request's read-model row."""
    period = report_period(principal, since, until)
    if figure not in figures.FIGURES:
        raise field_error(("query", "figure"), f"must be one of {', '.join(figures.FIGURES)}")
    found = figures.behind(ctx.engine, scope_conditions(principal), period, institution, figure)
    ids = sorted({mark.request_id for mark, _ in found})
    with Session(ctx.engine) as session:
        rows = session.exec(select(ServiceRequest).where(col(ServiceRequest.request_id).in_(ids)))
        by_id = {row.request_id: row for row in rows.all()}
        for row in by_id.values():
            session.expunge(row)
    return [(mark, counts, by_id.get(mark.request_id)) for mark, counts in found]
