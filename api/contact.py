"""Who sees an enterprise's contact in full, and what everyone else sees (PIPL: minimum
necessary).

The contact (person, phone, e-mail) is there to reach the enterprise. Those who do so see it:
the unit holding the request (its caseworkers and its lead), the caseworkers of a unit
co-handling an open part of it (协办), the dispatch (派单) and follow-up (回访) desks in scope,
which call the enterprise, and the enterprise itself or a system client acting for it with the
``contact`` grant. Everyone else in scope oversees the request (supervisors of other units,
admins, other system clients) and sees the contact masked: enough to tell two contacts apart
and check one, not to reach the person.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from api import auth
from api.auth import in_scope
from api.models import RequestRow
from schemas.domain import Role
from schemas.edge import sms_number
from schemas.permissions import CONTACT_GRANT, HANDLER_ROLES
from tierflow.auth_store import Principal

DESK_ROLES = frozenset({Role.FOLLOW_UP, Role.DISPATCHER})  # they call the enterprise
KEPT_DIGITS = 4  # a phone that is not a mobile keeps its last four digits


class Held(auth.Held, Protocol):
    """A request as the read model or the API holds it: where it is and whose it is."""

    @property
    def enterprise_uscc(self) -> str: ...


def holds(p: Principal, row: Held) -> bool:
    """Return whether the principal is staff of the unit holding the request (a caseworker or
    its lead)."""
    unit = p.institution_id
    return p.role in HANDLER_ROLES and unit is not None and unit == row.institution_id


def sees_contact(p: Principal, row: Held, *, co_handled: bool = False) -> bool:
    """Return whether a caller who may read the request sees its contact in full.

    ``co_handled``: the caller's unit co-handles an open part of it (``lookup.co_handles``).
    """
    if p.role is Role.SYSTEM:
        return CONTACT_GRANT in p.grants
    if p.role is Role.ENTERPRISE:  # an enterprise acts by its USCC, on its own requests
        return p.user_id == row.enterprise_uscc
    if p.role in DESK_ROLES:  # in their region (the caller has checked the scope already)
        return in_scope(p, row)
    return holds(p, row) or (p.role is Role.CASEWORKER and co_handled)


class Submitter(NamedTuple):
    """Who submitted a request: their role and unit (the audit trail's submitted row)."""

    role: Role
    institution_id: str | None


def prefills_contact(p: Principal, row: Held, *, submitter: Submitter | None) -> bool:
    """Return whether the walk-in form fills in the contact of the enterprise's earlier
    request ``row`` for the principal: only for the unit that held it, its caseworkers and
    lead, and only a contact the enterprise gave itself (online, through a system client) or
    at this unit's own window (``submitter``: who submitted ``row``; None if unknown).

    The form is looked up by USCC, a public code: filling in the contact for every desk,
    supervisor or admin who may see a request of that enterprise would hand a region's
    contacts to anyone holding a list of codes. The unit that served the enterprise had its
    contact on file already; everyone else asks the enterprise at the window. And any unit's
    staff may register a request for any USCC: a contact typed elsewhere would otherwise be
    filled in here, and the enterprise's next request sent to whoever typed it.
    """
    if submitter is None or not holds(p, row):
        return False
    if submitter.role in (Role.ENTERPRISE, Role.SYSTEM):
        return True
    return submitter.role in HANDLER_ROLES and submitter.institution_id == p.institution_id


def mask_name(name: str) -> str:
    """Return the name's first character and a star for each other one (王芳 -> 王*); a name
    of one character is a star alone, or it would be shown whole."""
    text = name.strip()
    if len(text) <= 1:
        return "*" if text else ""
    return text[0] + "*" * (len(text) - 1)


def mask_phone(phone: str) -> str:
    """Return a mobile as its first 3 and last 4 digits (139****5678), any other number with
    its last 4 digits kept and the others starred (0571-87654321 -> ****-****4321); a number
    of 8 digits or fewer wholly starred."""
    number = sms_number(phone) or ""
    if number.startswith("+86"):  # a Chinese mobile, whatever way it was written
        mobile = number[3:]
        return f"{mobile[:3]}****{mobile[-4:]}"
    digits = sum(c.isdigit() for c in phone)
    if digits <= 2 * KEPT_DIGITS:  # a short number: its last four would be most of it
        return "".join("*" if c.isdigit() else c for c in phone)
    shown, seen = [], 0
    for c in phone:
        seen += c.isdigit()
        shown.append("*" if c.isdigit() and seen <= digits - KEPT_DIGITS else c)
    return "".join(shown)


def mask_email(email: str) -> str:
    """Return the first character of the address, *** and its domain (w***@example.com)."""
    local, at, domain = email.strip().rpartition("@")
    if not at:  # not an address (the edge refuses one): nothing of it but its first character
        return domain[:1] + "***"
    return f"{local[:1]}***@{domain}"


def masked(row: RequestRow) -> RequestRow:
    """Return ``row`` with its contact masked, saying so (``contact_masked``)."""
    return row.model_copy(
        update={
            "contact_name": row.contact_name and mask_name(row.contact_name),
            "contact_phone": row.contact_phone and mask_phone(row.contact_phone),
            "contact_email": row.contact_email and mask_email(row.contact_email),
            "contact_masked": True,
        }
    )


def shown_to(p: Principal, row: RequestRow, *, co_handled: bool = False) -> RequestRow:
    """Return ``row`` as the principal may see it: whole, or with the contact masked."""
    return row if sees_contact(p, row, co_handled=co_handled) else masked(row)
