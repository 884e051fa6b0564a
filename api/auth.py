"""Who may do what: role permissions (403) and object scope (404, so nothing leaks).

A caseworker sees and acts on requests held by their institution; a supervisor on requests
from their region (the division-code prefix of their institution) at their tier or below;
an admin on everything; a system client on everything, but only with the grants it holds.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from sqlmodel import col

from schemas.domain import TIER_ORDER, Role, Tier
from schemas.lifecycle import ActionKind
from schemas.permissions import REPORT_ROLES, ROLE_ACTIONS, STAFF_ROLES
from tierflow.auth_store import Principal
from tierflow.db.models import ServiceRequest

REGION_DIGITS = {Tier.NATIONAL: 0, Tier.PROVINCIAL: 2, Tier.MUNICIPAL: 4, Tier.COUNTY: 6}


def allowed_kinds(p: Principal) -> frozenset[ActionKind]:
    """Return the action kinds the principal's role (or grants) allow."""
    if p.role is Role.SYSTEM:
        return frozenset(k for k in ActionKind if k.value in p.grants)
    if p.role not in STAFF_ROLES:
        return frozenset()  # enterprises act through system clients, never as API users
    return ROLE_ACTIONS[p.role]


def action_refusal(p: Principal, kind: ActionKind) -> str | None:
    """Return why the principal may never take ``kind`` (a 403), or None."""
    if kind in allowed_kinds(p):
        return None
    if p.role is Role.SYSTEM:
        return f"system client {p.user_id} has no grant for {kind.value}"
    return f"role {p.role.value} may not {kind.value} a request"


def can(p: Principal, grant: str) -> bool:
    """Return whether the principal may ``submit``, ``read`` or see ``reports``."""
    if p.role is Role.SYSTEM:
        return grant in p.grants
    if grant == "reports":
        return p.role in REPORT_ROLES
    return p.role in STAFF_ROLES


def require(p: Principal, grant: str, doing: str = "") -> None:
    """Answer 403 unless the principal holds ``grant``; ``doing`` words the refusal."""
    if not can(p, grant):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{p.role.value} {p.user_id} may not {doing or grant}"
        )


def region_prefix(p: Principal) -> str:
    """Return the division-code prefix of a supervisor's region ('' for national)."""
    if p.tier is None or p.division_code is None:
        return "\x00"  # matches nothing: a supervisor without an institution sees nothing
    return p.division_code[: REGION_DIGITS[p.tier]]


def tiers_at_or_below(tier: Tier | None) -> list[Tier]:
    return [] if tier is None else TIER_ORDER[: tier.rank + 1]


def in_scope(p: Principal, tier: Tier, institution_id: str | None, division_code: str) -> bool:
    """Return whether a request held at (tier, institution) from ``division_code`` is visible."""
    if p.role is Role.CASEWORKER:
        return institution_id is not None and institution_id == p.institution_id
    if p.role is Role.SUPERVISOR:
        return division_code.startswith(region_prefix(p)) and tier in tiers_at_or_below(p.tier)
    return p.role in (Role.ADMIN, Role.SYSTEM)


def scope_conditions(p: Principal) -> list[Any]:
    """Return SQL conditions on ``service_request`` that keep rows in the principal's scope."""
    if p.role is Role.CASEWORKER:
        return [ServiceRequest.institution_id == (p.institution_id or "\x00")]
    if p.role is Role.SUPERVISOR:
        tiers = [t.value for t in tiers_at_or_below(p.tier)]
        return [
            col(ServiceRequest.division_code).startswith(region_prefix(p)),
            col(ServiceRequest.tier).in_(tiers),
        ]
    if p.role in (Role.ADMIN, Role.SYSTEM):
        return []
    return [ServiceRequest.request_id == "\x00"]
