"""考核: the figures institutions are assessed by, for a period, from the read model.

Holds begun in the period give the sign-for, response and conclusion rates and the returns;
lifecycle events in the period give the counts (extensions, reminders, supervisions,
reprimands, redos, rectifications) and the resolution rate (follow-ups that found the matter
solved); ratings in the period, less those an upheld appeal excluded, give the satisfaction
rate (基本满意 and better). Every figure is computed exactly; a rate with nothing to measure
is null, not 100 %.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from api.deps import ApiContext
from api.models import AssessmentReport, AssessmentRow
from api.service.reports import in_period_and_scope, report_period
from schemas.lifecycle import EventType
from tierflow.auth_store import Principal
from tierflow.csv_text import to_csv
from tierflow.db.models import Rating, TierHoldRow, Transition

SATISFIED = 3  # 基本满意 (3), 满意 (4) and 非常满意 (5) count as satisfied
COUNTED = {
    EventType.EXTENSION_APPROVED: "extensions",
    EventType.REMINDED: "reminders",
    EventType.SUPERVISION_OPENED: "supervisions",
    EventType.REPRIMANDED: "reprimands",
    EventType.RECTIFICATION_OPENED: "rectifications",
}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def assessment(
    ctx: ApiContext, principal: Principal, since: datetime | None, until: datetime | None
) -> AssessmentReport:
    """The assessment figures of every institution in the caller's scope for the period."""
    start, end = report_period(principal, since, until)
    period = (start, end)
    figures: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    with Session(ctx.engine) as session:
        holds = in_period_and_scope(
            select(TierHoldRow), principal, TierHoldRow.request_id, TierHoldRow.since, period
        )
        for hold in session.exec(holds).all():
            f = figures[hold.institution_id]
            f["tier"] = hold.tier
            f["holds"] += 1
            if hold.signed_for_at is not None or hold.sign_for_breached:
                f["sign_for_measured"] += 1
                f["sign_for_on_time"] += int(not hold.sign_for_breached)
            f["responded_on_time"] += int(not hold.response_breached)
            if hold.left_by == EventType.RESOLVED.value:
                f["concluded"] += 1
                f["concluded_on_time"] += int(not hold.resolution_breached)
            f["returns"] += int(hold.left_by == EventType.RETURN_APPROVED.value)
        events = in_period_and_scope(
            select(Transition.institution_id, Transition.event_type, Transition.details),
            principal,
            Transition.request_id,
            Transition.occurred_at,
            period,
        ).where(
            col(Transition.event_type).in_([*COUNTED, EventType.FOLLOWED_UP, EventType.REOPENED])
        )
        for institution, event, details in session.exec(events).all():
            f = figures[institution or ""]
            details = details or {}
            if event in COUNTED:
                f[COUNTED[EventType(event)]] += 1
            elif event == EventType.FOLLOWED_UP and details.get("outcome") != "unreachable":
                f["followed_up"] += 1
                f["solved"] += int(details.get("outcome") == "satisfied")
            elif event == EventType.REOPENED and details.get("cause") == "follow_up":
                f["redos"] += 1
        ratings = in_period_and_scope(
            select(Rating.institution_id, Rating.rating),
            principal,
            Rating.request_id,
            Rating.created_at,
            period,
        ).where(col(Rating.excluded).is_(False))
        for institution, rating in session.exec(ratings).all():
            f = figures[institution or ""]
            f["ratings"] += 1
            f["satisfied"] += int(rating >= SATISFIED)
    rows = [_row(institution, f) for institution, f in sorted(figures.items()) if institution]
    return AssessmentReport(since=start, until=end, rows=rows)


def _row(institution: str, f: dict[str, Any]) -> AssessmentRow:
    return AssessmentRow(
        institution_id=institution,
        tier=f.get("tier"),
        holds=f["holds"],
        sign_for_on_time_rate=_rate(f["sign_for_on_time"], f["sign_for_measured"]),
        response_rate=_rate(f["responded_on_time"], f["holds"]),
        conclusion_on_time_rate=_rate(f["concluded_on_time"], f["concluded"]),
        resolution_rate=_rate(f["solved"], f["followed_up"]),
        satisfaction_rate=_rate(f["satisfied"], f["ratings"]),
        ratings=f["ratings"],
        returns=f["returns"],
        extensions=f["extensions"],
        reminders=f["reminders"],
        supervisions=f["supervisions"],
        reprimands=f["reprimands"],
        redos=f["redos"],
        rectifications=f["rectifications"],
    )


def assessment_csv(report: AssessmentReport) -> str:
    """The report as CSV for Excel (UTF-8 with BOM), one row per institution."""
    fields = list(AssessmentRow.model_fields)
    rows = [[getattr(row, name) for name in fields] for row in report.rows]
    return to_csv(fields, rows)
