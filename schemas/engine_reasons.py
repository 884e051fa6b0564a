"""The reasons the engine itself writes into the audit trail. Pure.

They are stored and published as they are (English, with codes and instants), so their text
never changes; a reader shows each in its own language by its pattern
(``tierflow.i18n.engine_reasons``), which the tests hold to the builders below.
"""

from __future__ import annotations

from datetime import datetime

from schemas.messages import N_

REOPEN_WINDOW_ELAPSED = N_("reopen window elapsed")
SIGN_FOR_MISSED = N_("sign-for deadline missed")
RECTIFICATION_LATE = N_("rectification is late")
APPEAL_NOT_DECIDED = N_("the appeal was not decided in time")
DECISION_NOT_TAKEN = N_("the application was not decided in time")
NO_SUPERVISION_REPLY = N_("no written reply to the supervision in time")
SUSPENSION_ENDED = N_("the approved suspension ended")
WAIT_EXPIRED_RESUMES = N_("no reply from the enterprise: handling resumes")
WAIT_EXPIRED_CLOSES = N_("no reply from the enterprise")


def calendar_changed(old: str, new: str) -> str:
    return f"calendar {old} -> {new}"


def rectification_opened(rating: int) -> str:
    return f"rating {rating}"


def followed_up(outcome: str) -> str:
    return f"follow-up: {outcome}"


def part_late(institution_id: str) -> str:
    return f"co-handling part of {institution_id} is late"


def late_since(clock: str, since: datetime) -> str:
    """A chased step (``sign_for``, ``resolution``, ``rectification``, ``part:<unit>`` ...)."""
    return f"{clock} late since {since.isoformat()}"


def sla_breach(clock: str) -> str:
    return f"sla_breach:{clock}"


def unroutable(division_code: str, category: str) -> str:
    return f"no institution serves division {division_code} for {category} at any tier"
