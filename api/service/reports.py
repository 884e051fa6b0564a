"""Reports over the read model, limited to the caller's scope."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from api.auth import require, scope_conditions
from api.deps import ApiContext
from api.errors import field_error
from api.models import (
    CountRow,
    EscalationReport,
    EscalationRow,
    SlaReport,
    SlaRow,
    SummaryReport,
)
from schemas.lifecycle import EventType
from tierflow.auth_store import Principal
from tierflow.db.models import ServiceRequest, TierHoldRow, Transition

DEFAULT_PERIOD = timedelta(days=30)
OUT_OF_RANGE = "out of range: give a time between the years 2 and 9998"
Q = TypeVar("Q", Select[*tuple[Any, ...]], SelectOfScalar[Any])


def report_period(
    principal: Principal, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    """Check the caller may see reports; return the period (by default the last 30 days)."""
    require(principal, "reports")
    end = _utc(until, "until") if until else datetime.now(UTC)
    try:
        start = _utc(since, "since") if since else end - DEFAULT_PERIOD
    except OverflowError:  # 30 days before the first of the calendar
        raise field_error(("query", "until"), OUT_OF_RANGE) from None
    if start > end:
        raise field_error(("query", "since"), "must not be after until")
    return start, end


def _utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC (a naive one taken as UTC); 422 naming ``name`` for an instant at
    the edge of the calendar (year 1, 9999), which leaves it once in UTC."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return aware.astimezone(UTC)
    except OverflowError:
        raise field_error(("query", name), OUT_OF_RANGE) from None


def in_period_and_scope(
    query: Q, principal: Principal, request_id: Any, moment: Any, period: tuple[datetime, datetime]
) -> Q:
    """Keep the rows of requests in the caller's scope whose ``moment`` falls in ``period``."""
    start, end = period
    return (
        query.join(ServiceRequest, col(ServiceRequest.request_id) == col(request_id))
        .where(*scope_conditions(principal))
        .where(col(moment) >= start, col(moment) <= end)
    )


def summary_report(ctx: ApiContext, principal: Principal) -> SummaryReport:
    """Count the requests in scope by tier, state and category."""
    require(principal, "reports")
    query = (
        select(ServiceRequest.tier, ServiceRequest.state, ServiceRequest.category, func.count())
        .where(*scope_conditions(principal))
        .group_by(ServiceRequest.tier, ServiceRequest.state, ServiceRequest.category)
    )
    with Session(ctx.engine) as session:
        rows = [
            CountRow(tier=t, state=s, category=c, count=int(n))
            for t, s, c, n in session.exec(query).all()
        ]
    by: dict[str, Counter[str]] = {"tier": Counter(), "state": Counter(), "category": Counter()}
    for row in rows:
        for name in by:
            by[name][str(getattr(row, name).value)] += row.count
    return SummaryReport(
        total=sum(r.count for r in rows),
        by_tier=dict(by["tier"]),
        by_state=dict(by["state"]),
        by_category=dict(by["category"]),
        rows=rows,
    )


def sla_report(
    ctx: ApiContext, principal: Principal, since: datetime | None, until: datetime | None
) -> SlaReport:
    """Return SLA attainment per institution and tier for holds begun in the period."""
    start, end = report_period(principal, since, until)
    query = in_period_and_scope(
        select(TierHoldRow), principal, TierHoldRow.request_id, TierHoldRow.since, (start, end)
    )
    stats: dict[tuple[str, Any], list[int]] = {}
    with Session(ctx.engine) as session:
        for hold in session.exec(query).all():
            entry = stats.setdefault((hold.institution_id, hold.tier), [0, 0, 0, 0])
            entry[0] += 1
            entry[1] += int(hold.response_breached)
            entry[2] += int(hold.resolution_breached)
            entry[3] += int(hold.response_breached or hold.resolution_breached)
    rows = [
        SlaRow(
            institution_id=inst,
            tier=tier,
            holds=n,
            response_breached=resp,
            resolution_breached=res,
            attainment=round((n - breached) / n, 4) if n else 1.0,
        )
        for (inst, tier), (n, resp, res, breached) in sorted(stats.items())
    ]
    return SlaReport(since=start, until=end, rows=rows)


def escalation_report(
    ctx: ApiContext, principal: Principal, since: datetime | None, until: datetime | None
) -> EscalationReport:
    """Count escalations in the period by tiers, cause (SLA breach or manual) and reason code."""
    start, end = report_period(principal, since, until)
    query = in_period_and_scope(
        select(Transition.from_tier, Transition.to_tier, Transition.details),
        principal,
        Transition.request_id,
        Transition.occurred_at,
        (start, end),
    ).where(Transition.event_type == EventType.ESCALATED)
    counts: Counter[tuple[Any, Any, str, str]] = Counter()
    with Session(ctx.engine) as session:
        for from_tier, to_tier, details in session.exec(query).all():
            details = details or {}
            cause = "sla_breach" if details.get("cause") == "sla_breach" else "manual"
            counts[(from_tier, to_tier, cause, str(details.get("reason_code", "other")))] += 1
    rows = [
        EscalationRow(from_tier=f, to_tier=t, cause=c, reason_code=code, count=n)
        for (f, t, c, code), n in sorted(counts.items(), key=lambda kv: str(kv[0]))
    ]
    return EscalationReport(since=start, until=end, total=sum(counts.values()), rows=rows)
