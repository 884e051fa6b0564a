"""Reports over the read model, limited to the caller's scope."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from api.auth import assessed_units, require, scope_conditions
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
from tierflow.assessment import KEPT_STAY
from tierflow.auth_store import Principal
from tierflow.db.engine import count_if
from tierflow.db.models import ServiceRequest, TierHoldRow, Transition

DEFAULT_PERIOD = timedelta(days=30)
OUT_OF_RANGE = "out of range: give a time between the years 2 and 9998"


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
    """Return SLA attainment per institution and tier for holds begun in the period: of the
    caller's units (``assessed_units``, the units 考核 reads), wherever the requests are now,
    leaving out stays an approved return (退单) ended, as 考核 does. Attainment is "no breach
    so far" over every stay, open ones included: not 考核's rates, which measure only the
    stays that answered, concluded or missed a deadline."""
    start, end = report_period(principal, since, until)
    response, resolution = col(TierHoldRow.response_breached), col(TierHoldRow.resolution_breached)
    unit, tier = col(TierHoldRow.institution_id), col(TierHoldRow.tier)
    query = (  # summed in the database: a year is hundreds of thousands of stays
        select_columns(
            unit,
            tier,
            func.count(),
            count_if(response),
            count_if(resolution),
            count_if(or_(response, resolution)),
        )
        .where(col(TierHoldRow.since) >= start, col(TierHoldRow.since) <= end, KEPT_STAY)
        .group_by(unit, tier)
    )
    if (units := assessed_units(principal)) is not None:
        query = query.where(unit.in_(units))
    with Session(ctx.engine) as session:
        stats = session.execute(query).all()
    rows = [
        SlaRow(
            institution_id=inst,
            tier=tier,
            holds=n,
            response_breached=resp,
            resolution_breached=res,
            attainment=round((n - breached) / n, 4) if n else 1.0,
        )
        for inst, tier, n, resp, res, breached in sorted(stats, key=lambda r: (r[0], r[1]))
    ]
    return SlaReport(since=start, until=end, rows=rows)


def escalation_report(
    ctx: ApiContext, principal: Principal, since: datetime | None, until: datetime | None
) -> EscalationReport:
    """Count escalations in the period by tiers, cause (SLA breach or manual) and reason code:
    those out of the caller's units (``assessed_units``), wherever the requests are now."""
    start, end = report_period(principal, since, until)
    details = col(Transition.details)
    from_tier, to_tier = col(Transition.from_tier), col(Transition.to_tier)
    cause, code = details["cause"].as_string(), details["reason_code"].as_string()
    query = (  # counted in the database: a year is tens of thousands of escalations
        select_columns(from_tier, to_tier, cause, code, func.count())
        .where(col(Transition.occurred_at) >= start, col(Transition.occurred_at) <= end)
        .where(col(Transition.event_type) == EventType.ESCALATED)
        .group_by(from_tier, to_tier, cause, code)
    )
    if (units := assessed_units(principal)) is not None:
        left = and_(  # the stay the escalation ended: its unit is charged with it
            col(TierHoldRow.request_id) == col(Transition.request_id),
            col(TierHoldRow.until) == col(Transition.occurred_at),
            col(TierHoldRow.left_by) == EventType.ESCALATED.value,
        )
        query = query.join(TierHoldRow, left).where(col(TierHoldRow.institution_id).in_(units))
    counts: Counter[tuple[Any, Any, str, str]] = Counter()
    with Session(ctx.engine) as session:
        for up_from, up_to, why, reason_code, n in session.execute(query).all():
            manual_or_breach = "sla_breach" if why == "sla_breach" else "manual"
            counts[(up_from, up_to, manual_or_breach, str(reason_code or "other"))] += n
    rows = [
        EscalationRow(from_tier=f, to_tier=t, cause=c, reason_code=code, count=n)
        for (f, t, c, code), n in sorted(counts.items(), key=lambda kv: str(kv[0]))
    ]
    return EscalationReport(since=start, until=end, total=sum(counts.values()), rows=rows)
