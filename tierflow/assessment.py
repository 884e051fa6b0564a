"""考核 figures from the read model: what each figure counts, per institution and per request.

Holds begun in the period give the sign-for, response and conclusion rates and the returns;
lifecycle events in the period give the counts (extensions, reminders, supervisions,
reprimands, redos, rectifications) and the resolution rate (follow-ups that found the matter
solved); ratings in the period, less those an upheld appeal excluded, give the satisfaction
rate (基本满意 and better). Each source row is marked once (``*_marks``), and both the totals
(``tally``) and the requests behind one figure (``behind``) add up those marks, so a number
and its drill-down cannot disagree. A rate with nothing to measure is None, not 100 %.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from schemas.domain import Tier
from schemas.lifecycle import EventType
from tierflow.db.models import Rating, ServiceRequest, TierHoldRow, Transition

SATISFIED = 3  # 基本满意 (3), 满意 (4) and 非常满意 (5) count as satisfied
COUNTED = {
    EventType.EXTENSION_APPROVED: "extensions",
    EventType.REMINDED: "reminders",
    EventType.SUPERVISION_OPENED: "supervisions",
    EventType.REPRIMANDED: "reprimands",
    EventType.RECTIFICATION_OPENED: "rectifications",
}
# the events ``event_marks`` counts
MARKED_EVENTS = [
    *COUNTED,
    EventType.FOLLOWED_UP,
    EventType.REOPENED,
    EventType.RECTIFICATION_CONCLUDED,
]
# rate -> (the marks it is measured over, the marks that count for it)
RATES: dict[str, tuple[str, str]] = {
    "sign_for_on_time_rate": ("sign_for_measured", "sign_for_on_time"),
    "response_rate": ("holds", "responded_on_time"),
    "conclusion_on_time_rate": ("concluded", "concluded_on_time"),
    "resolution_rate": ("followed_up", "solved"),
    "satisfaction_rate": ("ratings", "satisfied"),
    "rectification_on_time_rate": ("rectifications_concluded", "rectifications_on_time"),
}
COUNTS = (
    "holds",
    "ratings",
    "returns",
    "extensions",
    "reminders",
    "supervisions",
    "reprimands",
    "redos",
    "rectifications",
)
FIGURES = (*RATES, *COUNTS)
SOURCES = {"holds": "hold", "ratings": "rating"}  # the others: holds for rates, events counts
Period = tuple[datetime, datetime]


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def hold_marks(hold: TierHoldRow) -> Counter[str]:
    """What one stay at an institution counts towards."""
    marks: Counter[str] = Counter(holds=1, responded_on_time=int(not hold.response_breached))
    if hold.signed_for_at is not None or hold.sign_for_breached:
        marks["sign_for_measured"] = 1
        marks["sign_for_on_time"] = int(not hold.sign_for_breached)
    if hold.left_by == EventType.RESOLVED.value:
        marks["concluded"] = 1
        marks["concluded_on_time"] = int(not hold.resolution_breached)
    marks["returns"] = int(hold.left_by == EventType.RETURN_APPROVED.value)
    return marks


def event_marks(event: str, details: dict[str, Any] | None) -> Counter[str]:
    """What one lifecycle event counts towards."""
    details = details or {}
    marks: Counter[str] = Counter()
    if event in COUNTED:
        marks[COUNTED[EventType(event)]] = 1
    elif event == EventType.FOLLOWED_UP and details.get("outcome") != "unreachable":
        marks["followed_up"] = 1
        marks["solved"] = int(details.get("outcome") == "satisfied")
    elif event == EventType.REOPENED and details.get("cause") == "follow_up":
        marks["redos"] = 1
    elif event == EventType.RECTIFICATION_CONCLUDED:
        marks["rectifications_concluded"] = 1
        marks["rectifications_on_time"] = int(bool(details.get("on_time")))
    return marks


def rating_marks(rating: int) -> Counter[str]:
    """What one rating (not excluded by an appeal) counts towards."""
    return Counter(ratings=1, satisfied=int(rating >= SATISFIED))


@dataclass(frozen=True)
class Mark:
    """One source row of a figure: the request, when it happened, and what it counts."""

    request_id: str
    institution_id: str
    tier: Tier | None
    at: datetime
    marks: Counter[str]


def _scoped(query: Any, conditions: Sequence[Any], request_id: Any, at: Any, period: Period) -> Any:
    start, end = period
    return (
        query.join(ServiceRequest, col(ServiceRequest.request_id) == col(request_id))
        .where(*conditions)
        .where(col(at) >= start, col(at) <= end)
    )


def marks(
    session: Session,
    conditions: Sequence[Any],
    period: Period,
    institution: str | None = None,
    sources: Sequence[str] = ("hold", "event", "rating"),
) -> Iterator[Mark]:
    """Every source row in scope (``conditions`` on the request) and period, marked."""
    if "hold" in sources:
        holds = _scoped(
            select(TierHoldRow), conditions, TierHoldRow.request_id, TierHoldRow.since, period
        )
        if institution is not None:
            holds = holds.where(TierHoldRow.institution_id == institution)
        for hold in session.exec(holds).all():
            yield Mark(
                hold.request_id, hold.institution_id, hold.tier, hold.since, hold_marks(hold)
            )
    if "event" in sources:
        events = _scoped(
            select_columns(  # five columns: more than sqlmodel's select is typed for
                col(Transition.request_id),
                col(Transition.institution_id),
                col(Transition.occurred_at),
                col(Transition.event_type),
                col(Transition.details),
            ),
            conditions,
            Transition.request_id,
            Transition.occurred_at,
            period,
        ).where(col(Transition.event_type).in_(MARKED_EVENTS))
        if institution is not None:
            events = events.where(Transition.institution_id == institution)
        for rid, unit, at, event, details in session.execute(events).all():
            yield Mark(rid, unit or "", None, at, event_marks(event, details))
    if "rating" in sources:
        ratings = _scoped(
            select(Rating.request_id, Rating.institution_id, Rating.created_at, Rating.rating),
            conditions,
            Rating.request_id,
            Rating.created_at,
            period,
        ).where(col(Rating.excluded).is_(False))
        if institution is not None:
            ratings = ratings.where(Rating.institution_id == institution)
        for rid, unit, at, value in session.exec(ratings).all():
            yield Mark(rid, unit or "", None, at, rating_marks(value))


@dataclass
class Tally:
    """The marks of one institution added up."""

    tier: Tier | None = None
    marks: Counter[str] | None = None

    def figure(self, name: str) -> float | int | None:
        counts = self.marks or Counter()
        if name in RATES:
            whole, part = RATES[name]
            return rate(counts[part], counts[whole])
        return counts[name]

    def figures(self) -> dict[str, float | int | None]:
        return {name: self.figure(name) for name in FIGURES}


def tally(engine: Engine, conditions: Sequence[Any], period: Period) -> dict[str, Tally]:
    """The figures of every institution with something in scope and period, by id."""
    out: dict[str, Tally] = defaultdict(lambda: Tally(marks=Counter()))
    with Session(engine) as session:
        for mark in marks(session, conditions, period):
            entry = out[mark.institution_id]
            if mark.tier is not None:
                entry.tier = mark.tier
            entry.marks.update(mark.marks)  # type: ignore[union-attr]
    return {unit: entry for unit, entry in sorted(out.items()) if unit}


def whole_and_part(figure: str) -> tuple[str, str | None]:
    """The mark a figure is measured over and, for a rate, the mark that counts for it."""
    if figure in RATES:
        return RATES[figure]
    if figure not in COUNTS:
        raise ValueError(f"no assessment figure {figure!r}")
    return figure, None


def _sources(whole: str) -> tuple[str, ...]:
    if whole in ("holds", "sign_for_measured", "concluded", "returns"):
        return ("hold",)
    return ("rating",) if whole == "ratings" else ("event",)


def behind(
    engine: Engine, conditions: Sequence[Any], period: Period, institution: str, figure: str
) -> list[tuple[Mark, bool | None]]:
    """The rows behind one institution's figure, oldest first; for a rate, whether each counts
    for it (on time, solved, satisfied) or only in its measure."""
    whole, part = whole_and_part(figure)
    with Session(engine) as session:
        found = [
            (m, bool(m.marks[part]) if part else None)
            for m in marks(session, conditions, period, institution, _sources(whole))
            if m.marks[whole]
        ]
    return sorted(found, key=lambda pair: (pair[0].at, pair[0].request_id))
