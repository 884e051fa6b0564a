"""Who may do what: role permissions (403) and object scope (404, so nothing leaks).

A caseworker sees and acts on requests held by their institution; a supervisor on requests
from their region (the division-code prefix of their institution) at their tier or below;
an admin on everything; a system client on everything, but only with the grants it holds.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import HTTPException, status
from sqlalchemy import and_, any_, false, func, or_
from sqlmodel import col, select

from schemas import permissions
from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind
from schemas.messages import N_, Said
from schemas.permissions import REPORT_ROLES, STAFF_ROLES, division_prefix
from tierflow.auth_store import Principal
from tierflow.db.models import InstitutionRow, RequestPart, ServiceRequest, overseen_from


def allowed_kinds(p: Principal) -> frozenset[ActionKind]:
    """Return the action kinds the principal's role (or grants) allow."""
    if p.role not in STAFF_ROLES and p.role is not Role.SYSTEM:
        return frozenset()  # enterprises act through system clients, never as API users
    return permissions.actor_kinds(p.actor)


def action_refusal(p: Principal, kind: ActionKind) -> str | None:
    """Return why the principal may never take ``kind`` (a 403), or None."""
    if kind in allowed_kinds(p):
        return None
    return permissions.kind_refusal(p.actor, kind) or f"{p.role.value} may not {kind.value}"


def can(p: Principal, grant: str) -> bool:
    """Return whether the principal may ``submit``, ``read``, see ``reports``, run SLA
    what-ifs (``whatif``: supervisors and admins, like reports) or manage the ``directory`` or
    the SLA ``policies`` (admins only; no system client can be granted them)."""
    if p.role is Role.SYSTEM:
        return grant in p.grants  # never "directory" or "policies": not grants (SYSTEM_GRANTS)
    if grant in ("reports", "whatif"):
        return p.role in REPORT_ROLES
    if grant in ("directory", "policies"):
        return p.role is Role.ADMIN
    return p.role in STAFF_ROLES


# Why a caller without a grant is refused, by grant (the console shows it in Chinese).
REFUSED_GRANTS = {
    "submit": N_("%(role)s %(user)s may not submit requests"),
    "read": N_("%(role)s %(user)s may not read requests"),
    "reports": N_("%(role)s %(user)s may not see reports"),
    "whatif": N_("%(role)s %(user)s may not run or read SLA what-ifs"),
    "policies": N_("%(role)s %(user)s may not manage SLA policies"),
    "directory": N_("%(role)s %(user)s may not manage the institution directory"),
}


def require(p: Principal, grant: str) -> None:
    """Answer 403 unless the principal holds ``grant`` (one of ``REFUSED_GRANTS``)."""
    if not can(p, grant):
        said = Said(REFUSED_GRANTS[grant], role=p.role.value, user=p.user_id)
        raise HTTPException(status.HTTP_403_FORBIDDEN, said)


def region_prefix(p: Principal) -> str:
    """Return the division-code prefix of a supervisor's region ('' for national)."""
    prefix = permissions.region_prefix(p.tier, p.division_code)
    return "\x00" if prefix is None else prefix  # no institution: matches nothing


class Held(Protocol):
    """Where a request stands, as a read-model row or a workflow's summary gives it."""

    @property
    def tier(self) -> Tier: ...
    @property
    def institution_id(self) -> str | None: ...
    @property
    def division_code(self) -> str: ...
    @property
    def scope_division(self) -> str | None: ...
    @property
    def rectifying_unit(self) -> str | None: ...


def in_scope(p: Principal, held: Held) -> bool:
    """Return whether the request is visible: held at (tier, institution), from its
    enterprise's division or overseen from the holder's (``permissions.in_scope``)."""
    if p.role is Role.ENTERPRISE:
        return False
    return permissions.in_scope(
        p.actor, held.tier, held.institution_id, held.division_code, held.scope_division
    )


def co_handling(unit: str) -> Any:
    """The parts that keep a request in the scope of ``unit``, which does not hold it (协办):
    an open part, which it works on now, or one whose supervision (督办) waits for its reply."""
    return and_(
        col(RequestPart.institution_id) == unit,
        or_(col(RequestPart.closed_at).is_(None), col(RequestPart.replies_owed) > 0),
    )


def receiving_unit(p: Principal) -> str | None:
    """首问负责: the unit whose received requests the caller follows (its caseworkers and its
    lead; None for anyone else)."""
    return p.institution_id if p.role in permissions.HANDLER_ROLES else None


def received_by(unit: str) -> Any:
    """首问负责: the requests ``unit`` received first, registered at its window or first sent
    to it, which it may follow wherever they are held now (read only, the contact masked)."""
    return or_(col(ServiceRequest.registered_by) == unit, col(ServiceRequest.first_holder) == unit)


def rectifies(p: Principal, held: Held) -> bool:
    """Whether the caller's unit (its caseworkers and its lead) owes a step of the request's
    整改 (``ServiceRequest.rectifying_unit``): concluding it, appealing, a reply to its 督办."""
    unit = receiving_unit(p)
    return unit is not None and held.rectifying_unit == unit


def scope_conditions(p: Principal, dialect: str = "", *, rectifying: bool = True) -> list[Any]:
    """Return SQL conditions on ``service_request`` that keep rows in the principal's scope
    (on PostgreSQL, ``dialect``, in a form its planner serves from indexes); ``rectifying``:
    with the requests held elsewhere whose 整改 a caseworker's unit owes a step of."""
    if p.role is Role.CASEWORKER:
        unit = p.institution_id or "\x00"
        co_handled = select(RequestPart.request_id).where(co_handling(unit))
        part_ids = col(ServiceRequest.request_id)
        # 协办: a part of it is theirs. On PostgreSQL as = ANY(ARRAY(...)), computed once, so
        # that the OR is two index scans, not a hashed subplan over every row
        theirs = (
            part_ids == any_(func.array(co_handled.scalar_subquery()))
            if dialect == "postgresql"
            else part_ids.in_(co_handled)
        )
        held = col(ServiceRequest.institution_id) == unit
        owed = col(ServiceRequest.rectifying_unit) == unit if rectifying else false()
        return [or_(held, owed, theirs)]
    if p.role in permissions.REGIONAL_ROLES:
        tiers = [t.value for t in permissions.tiers_at_or_below(p.tier)]
        return [overseen_from(region_prefix(p)), col(ServiceRequest.tier).in_(tiers)]
    if p.role is Role.SYSTEM and p.division_code is not None:  # a regional client
        return [col(ServiceRequest.division_code).startswith(division_prefix(p.division_code))]
    if p.role in (Role.ADMIN, Role.SYSTEM):
        return []
    return [ServiceRequest.request_id == "\x00"]


def assessed_units(principal: Principal) -> Any:
    """The institutions whose figures the caller reads (a query of ids; None: every one):
    a supervisor's, the units the directory places in its region at its tier or below,
    wherever their requests have gone since (a request escalated above the supervisor's
    tier still counts against the county unit that let it run late); a regional system
    client's, the units in its region; a caseworker's, its own unit's."""
    if principal.role is Role.SYSTEM and principal.division_code is not None:
        prefix = division_prefix(principal.division_code)
        return select(InstitutionRow.id).where(col(InstitutionRow.division_code).startswith(prefix))
    if principal.role in (Role.ADMIN, Role.SYSTEM):
        return None
    if principal.role in permissions.REGIONAL_ROLES:
        tiers = [t.value for t in permissions.tiers_at_or_below(principal.tier)]
        return select(InstitutionRow.id).where(
            col(InstitutionRow.division_code).startswith(region_prefix(principal)),
            col(InstitutionRow.tier).in_(tiers),
        )
    return select(InstitutionRow.id).where(
        col(InstitutionRow.id) == (principal.institution_id or "\x00")
    )
