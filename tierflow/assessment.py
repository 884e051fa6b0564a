"""考核 figures from the read model: what each figure counts, per institution and per request.

Holds begun in the period give the sign-for, response and conclusion rates and the returns;
lifecycle events in the period give the counts (extensions, reminders, supervisions,
reprimands, redos, rectifications) and the resolution rate (follow-ups that found the matter
solved); conclusion ratings in the period, less those an upheld appeal excluded, give the
satisfaction rate (基本满意 and better), and intake ratings (受理评价) the intake satisfaction
rate, apart. What a source row counts towards is one SQL condition per mark
(``MARKS``): the totals (``tally``) add them up in the database, and the requests behind one
figure (``behind``) are the rows that meet the same conditions, so a number and its
drill-down cannot disagree. A rate with nothing to measure is None, not 100 %.

Figures per institution can be added up by tier or by region (province, city) through the
directory (``regroup``); an institution missing from the directory falls in ``UNKNOWN``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, case, func, not_, or_, true
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from schemas.chased import CHASE_EVENTS, PART_CLOCK
from schemas.domain import Tier
from schemas.enterprise import division_for_tier
from schemas.lifecycle import EventType, RatingStage
from tierflow.db.models import InstitutionRow, Rating, ServiceRequest, TierHoldRow, Transition

SATISFIED = 3  # 基本满意 (3), 满意 (4) and 非常满意 (5) count as satisfied
COUNTED = {
    EventType.EXTENSION_APPROVED: "extensions",
    EventType.REMINDED: "reminders",
    EventType.SUPERVISION_OPENED: "supervisions",
    EventType.REPRIMANDED: "reprimands",
    EventType.RECTIFICATION_OPENED: "rectifications",
}
# rate -> (the marks it is measured over, the marks that count for it)
RATES: dict[str, tuple[str, str]] = {
    "sign_for_on_time_rate": ("sign_for_measured", "sign_for_on_time"),
    "response_rate": ("response_measured", "responded_on_time"),
    "conclusion_on_time_rate": ("conclusion_measured", "concluded_on_time"),
    "follow_up_rate": ("conclusions", "conclusions_followed_up"),
    "resolution_rate": ("followed_up", "solved"),
    "satisfaction_rate": ("ratings", "satisfied"),
    "rectification_on_time_rate": ("rectifications_concluded", "rectifications_on_time"),
    "intake_satisfaction_rate": ("intake_ratings", "intake_satisfied"),
}
COUNTS = (
    "holds",
    "ratings",
    "intake_ratings",
    "returns",
    "extensions",
    "reminders",
    "supervisions",
    "reprimands",
    "redos",
    "rectifications",
)
FIGURES = (*RATES, *COUNTS)
GROUPINGS = ("institution", "tier", "province", "city")
UNKNOWN = "unknown"  # the group of an institution the directory does not list
Period = tuple[datetime, datetime]


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _event(kind: EventType) -> ColumnElement[bool]:
    return col(Transition.event_type) == kind


def _detail(name: str) -> Any:
    return col(Transition.details)[name]


_conclusion_rating = col(Rating.stage) == RatingStage.CONCLUSION
_intake_rating = col(Rating.stage) == RatingStage.INTAKE
_satisfied = col(Rating.rating) >= SATISFIED
# The unit an event is charged to: its holder then, except an event of a 整改 (its rated
# unit), a chasing event (催办, 督办, 通报) about a late co-handling part (its co-handler), and a
# reprimand or supervision naming the unit supervised (the request may have moved on since):
# schemas.chased.charged_unit, in SQL.
_supervised = _detail("supervised_institution").as_string()
_rectifier = _detail("rectifying_institution").as_string()
_co_handler = _detail("co_handler").as_string()
_clock = _detail("clock").as_string()
_chase = col(Transition.event_type).in_(sorted(CHASE_EVENTS))
_charged = case(
    (_rectifier.is_not(None), _rectifier),  # a 整改 is its rated unit's, wherever it is now
    (and_(_chase, _clock.like(f"{PART_CLOCK}%")), func.substr(_clock, len(PART_CLOCK) + 1)),
    (and_(_chase, _co_handler.is_not(None)), _co_handler),
    (and_(_chase, not_(_event(EventType.REMINDED)), _supervised.is_not(None)), _supervised),
    else_=col(Transition.institution_id),
)
_later = aliased(Transition)
_upheld_since = (
    select_columns(col(_later.event_id))
    .where(
        col(_later.request_id) == col(Transition.request_id),
        col(_later.event_type) == EventType.APPEAL_UPHELD,
        col(_later.sequence) > col(Transition.sequence),
    )
    .exists()
)
# a stay a 重办 opened (sent back after the follow-up, or reopened): its conclusion is a second
# one, on a fresh clock; in time it is no credit, only late is it a mark
_redo_stay = (
    select_columns(col(Transition.event_id))
    .where(
        col(Transition.event_id) == col(TierHoldRow.opened_by),
        col(Transition.event_type) == EventType.REOPENED,
    )
    .exists()
)


def _regular_follow_up(row: Any) -> ColumnElement[bool]:
    """A follow-up of the conclusion in ``row`` (the table or an alias of it): not the desk's
    call back after a bad rating (差评回访)."""
    call_back = func.coalesce(col(row.details)["call_back"].as_boolean(), False)
    return and_(col(row.event_type) == EventType.FOLLOWED_UP, not_(call_back))


def _reached(row: Any) -> ColumnElement[bool]:
    """A regular follow-up in ``row`` that reached the enterprise."""
    outcome = func.coalesce(col(row.details)["outcome"].as_string(), "")
    return and_(_regular_follow_up(row), outcome != "unreachable")


# 回访: a conclusion whose enterprise a regular follow-up reached before any later conclusion
# (a 重办's conclusion is followed up on its own)
_after = aliased(Transition)
_between = aliased(Transition)
_reached_after = (
    select_columns(col(_after.event_id))
    .where(
        col(_after.request_id) == col(Transition.request_id),
        col(_after.sequence) > col(Transition.sequence),
        _reached(_after),
        not_(
            select_columns(col(_between.event_id))
            .where(
                col(_between.request_id) == col(Transition.request_id),
                col(_between.sequence) > col(Transition.sequence),
                col(_between.sequence) < col(_after.sequence),
                col(_between.event_type) == EventType.RESOLVED,
            )
            .correlate_except(_between)
            .exists()
        ),
    )
    .correlate_except(_after)
    .exists()
)
_signed_for = col(TierHoldRow.signed_for_at).is_not(None)
_responded = col(TierHoldRow.responded_at).is_not(None)
_resolved = col(TierHoldRow.left_by) == EventType.RESOLVED.value
# a stay a return (退单) ended was not the unit's to handle: its time counts against routing,
# in 考核 and the SLA report alike
KEPT_STAY = func.coalesce(col(TierHoldRow.left_by), "") != EventType.RETURN_APPROVED.value


@dataclass(frozen=True)
class Source:
    """One kind of source row: its columns, which rows count at all, and what each counts."""

    name: str
    table: Any
    request_id: Any
    institution_id: Any
    at: Any
    counted: Sequence[ColumnElement[bool]]
    marks: dict[str, ColumnElement[bool]]
    tier: Any = None


SOURCES = (
    Source(
        "hold",
        TierHoldRow,
        TierHoldRow.request_id,
        TierHoldRow.institution_id,
        TierHoldRow.since,
        (),
        {
            "holds": true(),
            # a stay that answered (受理) or missed its response deadline; not one that moved
            # on before either (signed for late and escalated), nor a redo (no response due)
            # a stay a return (退单) ended was not the unit's to handle: routing's time
            "response_measured": and_(
                KEPT_STAY, or_(_responded, col(TierHoldRow.response_breached))
            ),
            "responded_on_time": and_(
                KEPT_STAY, _responded, not_(col(TierHoldRow.response_breached))
            ),
            "sign_for_measured": and_(
                KEPT_STAY, or_(_signed_for, col(TierHoldRow.sign_for_breached))
            ),
            "sign_for_on_time": and_(
                KEPT_STAY, _signed_for, not_(col(TierHoldRow.sign_for_breached))
            ),
            # a stay concluded there, or past its deadline there (and pulled up, handed on
            # or rejected by the unit since): lateness does not leave the measure by moving.
            # A redo's stay counts only when it ran late: concluding a 重办 in time does not
            # make up for the conclusion that did not solve the matter
            "conclusion_measured": and_(
                KEPT_STAY,
                or_(and_(_resolved, not_(_redo_stay)), col(TierHoldRow.resolution_breached)),
            ),
            "concluded_on_time": and_(
                _resolved, not_(col(TierHoldRow.resolution_breached)), not_(_redo_stay)
            ),
            "returns": col(TierHoldRow.left_by) == EventType.RETURN_APPROVED.value,
        },
        tier=TierHoldRow.tier,
    ),
    Source(
        "event",
        Transition,
        Transition.request_id,
        _charged,
        Transition.occurred_at,
        (
            col(Transition.event_type).in_(
                [
                    *COUNTED,
                    EventType.FOLLOWED_UP,
                    EventType.RESOLVED,
                    EventType.REOPENED,
                    EventType.RECTIFICATION_CONCLUDED,
                ]
            ),
        ),
        {
            **{name: _event(kind) for kind, name in COUNTED.items()},
            # an upheld appeal found the bad rating mistaken or malicious: its 整改 is not
            # the unit's mark (the rating already leaves the satisfaction rate)
            "rectifications": and_(_event(EventType.RECTIFICATION_OPENED), not_(_upheld_since)),
            "followed_up": _reached(Transition),
            # 回访率: the conclusions (办结) in the period, and those followed up
            "conclusions": _event(EventType.RESOLVED),
            "conclusions_followed_up": and_(_event(EventType.RESOLVED), _reached_after),
            "solved": and_(
                _regular_follow_up(Transition), _detail("outcome").as_string() == "satisfied"
            ),
            # 重办: sent back after an unsatisfied follow-up, or by a supervisor above
            "redos": and_(
                _event(EventType.REOPENED),
                _detail("cause").as_string().in_(["follow_up", "supervisor"]),
            ),
            # and a 整改 concluded before the appeal was upheld leaves 按时整改率 too
            "rectifications_concluded": and_(
                _event(EventType.RECTIFICATION_CONCLUDED), not_(_upheld_since)
            ),
            "rectifications_on_time": and_(
                _event(EventType.RECTIFICATION_CONCLUDED),
                not_(_upheld_since),
                func.coalesce(_detail("on_time").as_boolean(), False),
            ),
        },
    ),
    Source(
        "rating",
        Rating,
        Rating.request_id,
        Rating.institution_id,
        Rating.created_at,
        (col(Rating.excluded).is_(False),),
        {
            "ratings": _conclusion_rating,
            "satisfied": and_(_conclusion_rating, _satisfied),
            "intake_ratings": _intake_rating,
            "intake_satisfied": and_(_intake_rating, _satisfied),
        },
    ),
)
SOURCE_OF_MARK = {mark: source for source in SOURCES for mark in source.marks}


def _in_scope(
    query: Any,
    source: Source,
    conditions: Sequence[Any],
    period: Period,
    institutions: Collection[str] | None,
    units: Any = None,
) -> Any:
    start, end = period
    if units is not None:  # the reader's units, wherever their requests are now
        query = query.where(source.institution_id.in_(units))
    if conditions:
        query = query.join(
            ServiceRequest, col(ServiceRequest.request_id) == col(source.request_id)
        ).where(*conditions)
    query = query.where(*source.counted, col(source.at) >= start, col(source.at) <= end)
    if institutions is not None:
        query = query.where(source.institution_id.in_(list(institutions)))
    return query


@dataclass
class Tally:
    """The marks of one institution (or group of them) added up."""

    tier: Tier | None = None
    marks: Counter[str] = field(default_factory=Counter)

    def figure(self, name: str) -> float | int | None:
        if name in RATES:
            whole, part = RATES[name]
            return rate(self.marks[part], self.marks[whole])
        return self.marks[name]

    def figures(self) -> dict[str, float | int | None]:
        return {name: self.figure(name) for name in FIGURES}


def tally(
    engine: Engine, conditions: Sequence[Any], period: Period, units: Any = None
) -> dict[str, Tally]:
    """The figures of every institution with something in scope and period, by id.

    ``conditions`` limit the requests (``service_request`` columns); ``units`` (a query of
    institution ids, None: any) the institutions the figures are charged to."""
    out: dict[str, Tally] = defaultdict(Tally)
    with Session(engine) as session:
        for source in SOURCES:
            names = list(source.marks)
            sums = [func.sum(case((source.marks[n], 1), else_=0)) for n in names]
            keys = [source.institution_id]
            if source.tier is not None:
                keys.append(col(source.tier))
            query = _in_scope(
                select_columns(*keys, *sums), source, conditions, period, None, units
            ).group_by(*keys)
            for row in session.execute(query).all():
                entry = out[row[0] or ""]
                if source.tier is not None:
                    entry.tier = row[1]
                entry.marks.update(dict(zip(names, row[len(keys) :], strict=True)))
    # a unit with no stay begun in the period (rated, reminded for one begun before) takes
    # its tier from the directory: the monthly report's tier sheets list it too
    if untiered := [unit for unit, entry in out.items() if unit and entry.tier is None]:
        for unit, (tier, _) in _places(engine, untiered).items():
            out[unit].tier = tier
    return {unit: entry for unit, entry in sorted(out.items()) if unit}


def group_of(by: str, tier: Tier, division_code: str) -> str:
    """The group an institution falls in: itself, its tier, or the division governing it
    (an institution above the level keeps its own division: a province is its own city)."""
    if by == "tier":
        return tier.value
    level = {"province": Tier.PROVINCIAL, "city": Tier.MUNICIPAL}[by]
    return division_code if tier.rank > level.rank else division_for_tier(division_code, level)


def _places(engine: Engine, ids: Collection[str] | None = None) -> dict[str, tuple[Tier, str]]:
    query = select(InstitutionRow.id, InstitutionRow.tier, InstitutionRow.division_code)
    if ids is not None:
        query = query.where(col(InstitutionRow.id).in_(list(ids)))
    with Session(engine) as session:
        return {unit: (Tier(tier), code) for unit, tier, code in session.exec(query).all()}


def regroup(engine: Engine, tallies: dict[str, Tally], by: str) -> dict[str, Tally]:
    """Add the institutions' figures up by ``by`` (one of ``GROUPINGS``)."""
    if by == "institution":
        return tallies
    places = _places(engine, tallies)
    out: dict[str, Tally] = defaultdict(Tally)
    for unit, entry in tallies.items():
        place = places.get(unit)
        key = group_of(by, *place) if place else UNKNOWN
        out[key].marks.update(entry.marks)
        if by == "tier" and place:
            out[key].tier = place[0]
    return dict(sorted(out.items()))


def members(engine: Engine, by: str, group: str) -> list[str]:
    """The institutions of one group (by institution: the institution itself)."""
    if by == "institution":
        return [group]
    places = _places(engine)
    if group == UNKNOWN:  # the units that held requests but the directory does not list
        with Session(engine) as session:
            held = session.exec(select(TierHoldRow.institution_id).distinct()).all()
        return sorted(set(held) - set(places))
    return sorted(unit for unit, place in places.items() if group_of(by, *place) == group)


def whole_and_part(figure: str) -> tuple[str, str | None]:
    """The mark a figure is measured over and, for a rate, the mark that counts for it."""
    if figure in RATES:
        return RATES[figure]
    if figure not in COUNTS:
        raise ValueError(f"no assessment figure {figure!r}")
    return figure, None


@dataclass(frozen=True)
class Mark:
    """One source row behind a figure: the request, when it happened, whether it counts."""

    request_id: str
    institution_id: str
    at: datetime
    counts: bool | None  # for a rate: on time, solved, satisfied; None for a count


def behind(
    engine: Engine,
    conditions: Sequence[Any],
    period: Period,
    institutions: Collection[str],
    figure: str,
    units: Any = None,
) -> list[Mark]:
    """The rows behind the institutions' figure, oldest first; for a rate, whether each
    counts for it (on time, solved, satisfied) or only in its measure."""
    whole, part = whole_and_part(figure)
    source = SOURCE_OF_MARK[whole]
    counts = case((source.marks[part], True), else_=False) if part else None
    columns = [col(source.request_id), source.institution_id, col(source.at)]
    query = _in_scope(
        select_columns(*columns, *([counts] if counts is not None else [])),
        source,
        conditions,
        period,
        institutions,
        units,
    ).where(source.marks[whole])
    with Session(engine) as session:
        rows = session.execute(query).all()
    found = [Mark(row[0], row[1] or "", row[2], bool(row[3]) if part else None) for row in rows]
    return sorted(found, key=lambda m: (m.at, m.request_id))
