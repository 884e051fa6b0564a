"""The supervisor's view: open requests per tier and institution, with SLA counts.

Rows are limited by the API's ``scope_conditions``, so a supervisor sees their region at
their tier and below, exactly as the API's queue and reports do.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from api.auth import scope_conditions
from schemas.domain import TERMINAL_STATES, TIER_ORDER, SlaStatus, Tier
from tierflow.auth_store import Principal
from tierflow.db.engine import count_if
from tierflow.db.models import ServiceRequest


@dataclass
class OverviewRow:
    tier: Tier
    institution_id: str | None
    open: int
    breached: int
    warning: int
    paused: int
    escalated: int


def overview_rows(engine: Engine, principal: Principal) -> list[OverviewRow]:
    """Count open requests in scope per (tier, institution), highest tier first."""
    status = ServiceRequest.sla_status
    query = (
        select(
            col(ServiceRequest.tier),
            col(ServiceRequest.institution_id),
            func.count(),
            count_if(status == SlaStatus.BREACHED),
            count_if(status == SlaStatus.WARNING),
            count_if(status == SlaStatus.PAUSED),
            count_if(col(ServiceRequest.escalation_count) > 0),
        )
        .where(*scope_conditions(principal))
        .where(col(ServiceRequest.state).not_in(sorted(TERMINAL_STATES)))
        .group_by(col(ServiceRequest.tier), col(ServiceRequest.institution_id))
    )
    with Session(engine) as session:
        rows = [
            OverviewRow(tier, inst, int(n), int(b or 0), int(w or 0), int(p or 0), int(e or 0))
            for tier, inst, n, b, w, p, e in session.execute(query).all()
        ]
    return sorted(rows, key=lambda r: (-TIER_ORDER.index(r.tier), r.institution_id or ""))


def totals_by_tier(rows: list[OverviewRow]) -> list[OverviewRow]:
    """Sum the rows per tier (institution None), highest tier first."""
    out: dict[Tier, OverviewRow] = {}
    for r in rows:
        t = out.setdefault(r.tier, OverviewRow(r.tier, None, 0, 0, 0, 0, 0))
        t.open += r.open
        t.breached += r.breached
        t.warning += r.warning
        t.paused += r.paused
        t.escalated += r.escalated
    return [out[t] for t in reversed(TIER_ORDER) if t in out]
