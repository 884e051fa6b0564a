"""The console's league table (考核排名) and the requests behind each of its numbers.

For supervisors and admins, in their scope, over the API's assessment service: a period
picker (days in China time), a table sortable by any figure on the server (links, no script),
one bar chart per rate over the table's first rows, the CSV export, and for every number the
rows it was counted from (``api.service.assessment.requests_behind``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from api.auth import can
from api.console.forms import day_of
from api.console.routes import User, error_page, forbidden_page, gettext, page_texts, render
from api.console.views import Texts, fit_label
from api.deps import ApiContext, Ctx
from api.downloads import csv_attachment
from api.models import AssessmentReport, AssessmentRow
from api.service import assessment as service
from schemas.domain import Tier
from schemas.edge import INSTITUTION_ID_PATTERN
from tierflow.assessment import COUNTS, FIGURES, GROUPINGS, RATES, UNKNOWN
from tierflow.auth_store import Principal
from tierflow.directory import DIVISION_INFO, full_name
from tierflow.directory_store import institution_names
from tierflow.grades import SHANGHAI
from tierflow.i18n.labels import figure_label, figure_outcome

router = APIRouter(prefix="/console", include_in_schema=False)
TIER_NAMES = {tier.value for tier in Tier}
DEFAULT_DAYS = 30
DEFAULT_SORT = "satisfaction_rate"
SORTS = ("group", *FIGURES)
CHART_ROWS = 15  # bars per chart: the table's first rows in its order
CHART_WIDTH = 640.0
CHART_LABEL = 220.0  # SVG units left of the bars for the group's name
CHART_BAR = 330.0  # SVG units of a 100 % bar
CHART_ROW = 22.0
BEHIND_ROWS = 1000  # rows of a drill-down page at most


@dataclass(frozen=True)
class Period:
    """A run of whole days in China time, both ends included."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(0), SHANGHAI)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(0), SHANGHAI) - timedelta(
            microseconds=1
        )

    def query(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


def period_of(since: str, until: str, today: date) -> Period:
    """The period asked for; a missing or unreadable end is today, a start 30 days before it."""
    end = day_of(until) or today
    start = day_of(since) or end - timedelta(days=DEFAULT_DAYS - 1)
    return Period(min(start, end), max(start, end))


def quick_periods(today: date) -> list[tuple[str, Period]]:
    """The picker's shortcuts: the last 30 days, this month and the month before."""
    first = today.replace(day=1)
    previous_end = first - timedelta(days=1)
    return [
        ("last30", Period(today - timedelta(days=DEFAULT_DAYS - 1), today)),
        ("month", Period(first, today)),
        ("previous", Period(previous_end.replace(day=1), previous_end)),
    ]


def sorted_rows(rows: list[AssessmentRow], sort: str, descending: bool) -> list[AssessmentRow]:
    """The rows by one figure (groups with nothing to measure last), then by group."""
    by_id = sorted(rows, key=lambda r: r.group)
    if sort == "group":
        return by_id[::-1] if descending else by_id
    measured = [r for r in by_id if getattr(r, sort) is not None]
    measured.sort(key=lambda r: getattr(r, sort), reverse=descending)
    return measured + [r for r in by_id if getattr(r, sort) is None]


@dataclass(frozen=True)
class ChartBar:
    group: str
    label: str  # the group's name, cut to fit left of the bar
    text: str  # the value as the table shows it
    y: float
    width: float
    band: str  # good (90 % and more), fair (70 % and more), poor, none


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def band(value: float | None) -> str:
    if value is None:
        return "none"
    return "good" if value >= 0.9 else "fair" if value >= 0.7 else "poor"


def chart(rows: list[AssessmentRow], rate: str, names: dict[str, str]) -> list[ChartBar]:
    """One bar per row (the first CHART_ROWS), as long as the rate, labelled by name."""
    return [
        ChartBar(
            row.group,
            fit_label(names.get(row.group, row.group), CHART_LABEL - 8),
            percent(getattr(row, rate)),
            i * CHART_ROW,
            (getattr(row, rate) or 0.0) * CHART_BAR,
            band(getattr(row, rate)),
        )
        for i, row in enumerate(rows[:CHART_ROWS])
    ]


def group_names(ctx: ApiContext, by: str, groups: list[str], texts: Texts) -> dict[str, str]:
    """What to call each group: the institution's, tier's or division's name."""
    if by == "institution":
        return institution_names(ctx.engine, groups)
    names = {UNKNOWN: texts.t.gettext("Not in the directory")}
    if by == "tier":
        return names | {g: texts.label(Tier(g)) for g in groups if g in TIER_NAMES}
    return names | {g: full_name(g) for g in groups if g in DIVISION_INFO}


def _refused(request: Request, user: Principal) -> Response | None:
    if can(user, "reports"):
        return None
    refusal = gettext(request, user).gettext("%(user)s (%(role)s) may not see the assessment")
    return forbidden_page(request, user, refusal)


def _report(
    request: Request, ctx: ApiContext, user: Principal, period: Period, by: str
) -> AssessmentReport | Response:
    try:
        return service.assessment(ctx, user, period.start, period.end, by)
    except HTTPException as exc:
        return error_page(request, user, exc)


@dataclass
class LeagueQuery:
    """What every league-table page is asked for: days in China time and the grouping."""

    since: str = ""
    until: str = ""
    by: str = "institution"

    def period(self) -> Period:
        return period_of(self.since, self.until, datetime.now(SHANGHAI).date())

    def grouping(self) -> str:
        return self.by if self.by in GROUPINGS else "institution"


League = Annotated[LeagueQuery, Depends()]


@router.get("/assessment")
def league_table(
    request: Request,
    ctx: Ctx,
    user: User,
    query: League,
    sort: str = DEFAULT_SORT,
    order: str = "desc",
) -> Response:
    """考核排名: the figures of every institution in scope (or added up by tier, province or
    city) for the period, ranked."""
    if refused := _refused(request, user):
        return refused
    today = datetime.now(SHANGHAI).date()
    period, by = query.period(), query.grouping()
    report = _report(request, ctx, user, period, by)
    if isinstance(report, Response):
        return report
    sort = sort if sort in SORTS else DEFAULT_SORT
    descending = order != "asc"
    rows = sorted_rows(report.rows, sort, descending)
    texts = page_texts(request, user)
    t = texts.t
    grouping = {"by": by} if by != "institution" else {}
    names = group_names(ctx, by, [r.group for r in rows], texts)

    def sort_url(name: str) -> str:
        flip = "asc" if name == sort and descending else "desc"
        if name == "group" and name != sort:
            flip = "asc"
        query = {**period.query(), **grouping, "sort": name, "order": flip}
        return "/console/assessment?" + urlencode(query)

    def behind_url(group: str, figure: str) -> str:
        query = {**period.query(), **grouping, "group": group, "figure": figure}
        return "/console/assessment/requests?" + urlencode(query)

    def grouping_url(name: str) -> str:
        query = {**period.query(), "sort": sort, "order": order}
        return "/console/assessment?" + urlencode({**query, "by": name})

    context = {
        "active": "assessment",
        "period": period,
        "quick": [
            (
                key,
                p,
                "/console/assessment?"
                + urlencode({**p.query(), **grouping, "sort": sort, "order": order}),
            )
            for key, p in quick_periods(today)
        ],
        "rows": rows,
        "names": names,
        "by": by,
        "groupings": [(name, grouping_url(name)) for name in GROUPINGS],
        "sort": sort,
        "descending": descending,
        "rates": list(RATES),
        "counts": list(COUNTS),
        "figure": lambda name: figure_label(name, t),
        "percent": percent,
        "band": band,
        "sort_url": sort_url,
        "behind_url": behind_url,
        "charts": [(rate, chart(rows, rate, names)) for rate in RATES],
        "chart": {
            "width": CHART_WIDTH,
            "label": CHART_LABEL,
            "bar": CHART_BAR,
            "row": CHART_ROW,
            "rows": min(len(rows), CHART_ROWS),
        },
        "csv_url": "/console/assessment.csv?" + urlencode({**period.query(), **grouping}),
    }
    return render(request, "assessment.html", context, user=user)


@router.get("/assessment.csv")
def league_table_csv(request: Request, ctx: Ctx, user: User, query: League) -> Response:
    """The league table's figures as CSV (the API's assessment.csv) for the period."""
    if refused := _refused(request, user):
        return refused
    report = _report(request, ctx, user, query.period(), query.grouping())
    if isinstance(report, Response):
        return report
    return csv_attachment(service.assessment_csv(report), "assessment.csv")


@router.get("/assessment/requests")
def requests_behind(
    request: Request,
    ctx: Ctx,
    user: User,
    query: League,
    group: str = "",
    figure: str = "",
) -> Response:
    """The requests behind one number of the league table: what it was counted from."""
    if refused := _refused(request, user):
        return refused
    texts = page_texts(request, user)
    t = texts.t
    by = query.by
    if figure not in FIGURES or by not in GROUPINGS or not _group(group):
        message = t.gettext("Choose a number in the league table.")
        return error_page(request, user, HTTPException(404, message))
    period = query.period()
    try:
        found = service.requests_behind(
            ctx, user, period.start, period.end, group, figure, by, shown=BEHIND_ROWS
        )
    except HTTPException as exc:
        return error_page(request, user, exc)
    rate = figure in RATES
    counted = sum(1 for _, counts, _ in found if counts)
    context: dict[str, Any] = {
        "active": "assessment",
        "period": period,
        "group": group,
        "name": group_names(ctx, by, [group], texts).get(group, ""),
        "figure": figure,
        "figure_label": figure_label(figure, t),
        "rate": rate,
        "value": percent(round(counted / len(found), 4))
        if rate and found
        else ("—" if rate else str(len(found))),
        "counted": counted,
        "total": len(found),
        "rows": found[:BEHIND_ROWS],
        "shown": min(len(found), BEHIND_ROWS),
        "outcome": lambda counts: figure_outcome(figure, counts, t),
        "back_url": "/console/assessment?"
        + urlencode(
            {**period.query(), **({"by": by} if by != "institution" else {}), "sort": figure}
        ),
    }
    return render(request, "assessment_requests.html", context, user=user)


def _group(value: str) -> bool:
    """An institution id, a tier, a division code or ``unknown``: all fit the id pattern."""
    return bool(re.fullmatch(INSTITUTION_ID_PATTERN, value)) and len(value) <= 64
