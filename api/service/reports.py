"""Reports over the read model, limited to the caller's scope."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

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


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = _aware(until) if until else datetime.now(UTC)
    start = _aware(since) if since else end - DEFAULT_PERIOD
    if start > end:
        raise field_error(("query", "since"), "must not be after until")
    return start, end


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def summary_report(ctx: ApiContext, principal: Principal) -> SummaryReport:
    """Count the requests in scope by tier, state and category."""
    require(principal, "reports", "see reports")
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
    require(principal, "reports", "see reports")
    start, end = _period(since, until)
    query = (
        select(TierHoldRow)
        .join(ServiceRequest, col(ServiceRequest.request_id) == col(TierHoldRow.request_id))
        .where(*scope_conditions(principal))
        .where(col(TierHoldRow.since) >= start, col(TierHoldRow.since) <= end)
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
    require(principal, "reports", "see reports")
    start, end = _period(since, until)
    query = (
        select(Transition.from_tier, Transition.to_tier, Transition.details)
        .join(ServiceRequest, col(ServiceRequest.request_id) == col(Transition.request_id))
        .where(*scope_conditions(principal))
        .where(Transition.event_type == EventType.ESCALATED)
        .where(col(Transition.occurred_at) >= start, col(Transition.occurred_at) <= end)
    )
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
