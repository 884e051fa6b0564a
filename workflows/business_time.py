"""Business-time arithmetic on a pinned calendar.

Pure and deterministic so it can run inside the Temporal workflow sandbox: stdlib ``datetime``
only, no time zone database, no holiday library, no clock. Everything it needs comes from a
``CalendarData`` pinned at submission, so replaying an old history gives the same deadlines.

Semantics: business time is the union of the calendar's working periods on working days, in the
calendar's fixed UTC offset. ``add_business_seconds(s, n)`` is the earliest instant at which
``n`` business seconds have elapsed since ``s``; ``business_seconds_between`` is its inverse.
Arithmetic is done in whole microseconds so the two functions agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from schemas.working_periods import US_PER_SECOND, parse_working_periods

if TYPE_CHECKING:
    from schemas.policy import CalendarData

US_PER_DAY = 86_400 * US_PER_SECOND
ONE_DAY = timedelta(days=1)
ONE_WEEK = timedelta(days=7)


@dataclass(frozen=True)
class _Calendar:
    """A calendar prepared for fast lookups (sets, periods in microseconds since midnight)."""

    tz: timezone
    periods: tuple[tuple[int, int], ...]
    weekend: frozenset[int]
    holidays: frozenset[date]
    workdays: frozenset[date]
    first_day: date
    last_day: date
    day_us: int
    # add_business_seconds answers by (start, seconds): the workflow asks the same ones often
    sums: dict[tuple[datetime, int], datetime] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @property
    def week_us(self) -> int:
        return (7 - len(self.weekend)) * self.day_us

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def is_working_day(self, day: date) -> bool:
        if self.covers(day):
            if day in self.workdays:
                return True
            if day in self.holidays:
                return False
        return day.weekday() not in self.weekend

    def plain_weeks_ahead(self, day: date) -> int:
        """Return how many whole weeks from ``day`` (a Monday) lie outside the coverage."""
        if day > self.last_day:
            return 1 << 40
        return max(0, (self.first_day - day).days // 7)


# Prepared calendars by the calendar object they came from (kept alive here, so its id is not
# reused), checked against a fingerprint of its content: a handful of calendars serve every
# request, and preparing one per call was most of the arithmetic's cost.
_PREPARED: dict[int, tuple[CalendarData, tuple[object, ...], _Calendar]] = {}
_PREPARED_MAX = 64


def _fingerprint(cal: CalendarData) -> tuple[object, ...]:
    return (
        cal.version,
        cal.utc_offset_minutes,
        cal.first_year,
        cal.last_year,
        id(cal.working_periods),
        len(cal.working_periods),
        id(cal.weekend_days),
        len(cal.weekend_days),
        id(cal.holidays),
        len(cal.holidays),
        id(cal.workdays),
        len(cal.workdays),
    )


def zone(cal: CalendarData) -> timezone:
    """The calendar's time zone (China's: UTC+8), where its days and years are counted."""
    return timezone(timedelta(minutes=cal.utc_offset_minutes))


def _prepare(cal: CalendarData) -> _Calendar:
    """The calendar indexed for lookups (cached per calendar object; pure either way)."""
    found = _PREPARED.get(id(cal))
    fingerprint = _fingerprint(cal)
    if found is not None and found[0] is cal and found[1] == fingerprint:
        return found[2]
    prepared = _index(cal)
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.pop(next(iter(_PREPARED), 0), None)  # the oldest; threads may race here
    _PREPARED[id(cal)] = (cal, fingerprint, prepared)
    return prepared


def _index(cal: CalendarData) -> _Calendar:
    """Validate and index the calendar; reject ones on which business time never advances."""
    try:
        periods = parse_working_periods(cal.working_periods)
    except ValueError as exc:
        raise ValueError(f"calendar.working_periods: {exc}") from None
    weekend = frozenset(cal.weekend_days)
    if not weekend <= set(range(7)) or len(weekend) == 7:
        raise ValueError("calendar.weekend_days: must be weekdays 0-6 leaving a working day")
    if cal.last_year < cal.first_year:
        raise ValueError("calendar.last_year: must not be before first_year")
    return _Calendar(
        tz=zone(cal),
        periods=periods,
        weekend=weekend,
        holidays=frozenset(cal.holidays),
        workdays=frozenset(cal.workdays),
        first_day=date(cal.first_year, 1, 1),
        last_day=date(cal.last_year, 12, 31),
        day_us=sum(end - start for start, end in periods),
    )


def business_day_seconds(cal: CalendarData) -> int:
    """Return the business seconds in one full working day of the calendar."""
    return _prepare(cal).day_us // US_PER_SECOND


def _local(moment: datetime, tz: timezone, name: str) -> tuple[date, int]:
    """Split an aware instant into the calendar's local day and microseconds since midnight."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    local = moment.astimezone(tz)
    clock = local.time()
    since_midnight = (
        clock.hour * 3600 + clock.minute * 60 + clock.second
    ) * US_PER_SECOND + clock.microsecond
    return local.date(), since_midnight


def _instant(day: date, since_midnight: int, tz: timezone) -> datetime:
    """Return the aware UTC instant at ``since_midnight`` microseconds into local ``day``."""
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    return (midnight + timedelta(microseconds=since_midnight)).astimezone(UTC)


def _overlap(periods: tuple[tuple[int, int], ...], low: int, high: int) -> int:
    """Return the working microseconds of one working day inside [low, high)."""
    return sum(max(0, min(end, high) - max(start, low)) for start, end in periods)


def is_working_day(day: date, cal: CalendarData) -> bool:
    """Return whether ``day`` is a working day (make-up days count, holidays do not)."""
    return _prepare(cal).is_working_day(day)


SUMS_MAX = 4096  # answers a prepared calendar keeps (then it starts again)


def add_business_seconds(start: datetime, seconds: int, cal: CalendarData) -> datetime:
    """Return the earliest UTC instant at which ``seconds`` of business time have elapsed."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    prepared = _prepare(cal)
    key = (start, seconds)
    found = prepared.sums.get(key)
    if found is None:
        found = _add(prepared, start, seconds)
        if len(prepared.sums) >= SUMS_MAX:
            prepared.sums.clear()
        prepared.sums[key] = found
    return found


def _add(prepared: _Calendar, start: datetime, seconds: int) -> datetime:
    day, position = _local(start, prepared.tz, "start")
    if seconds == 0:
        return start.astimezone(UTC)
    remaining = seconds * US_PER_SECOND
    while True:
        if prepared.is_working_day(day):
            if position == 0 and remaining > prepared.day_us:
                remaining -= prepared.day_us
            else:
                for period_start, period_end in prepared.periods:
                    if position >= period_end:
                        continue
                    begin = max(position, period_start)
                    if remaining <= period_end - begin:
                        return _instant(day, begin + remaining, prepared.tz)
                    remaining -= period_end - begin
        day, position = day + ONE_DAY, 0
        if day.weekday() == 0 and remaining > prepared.week_us:
            weeks = min((remaining - 1) // prepared.week_us, prepared.plain_weeks_ahead(day))
            day += weeks * ONE_WEEK
            remaining -= weeks * prepared.week_us


def business_seconds_between(start: datetime, end: datetime, cal: CalendarData) -> int:
    """Return the whole business seconds in [start, end); 0 if ``end`` is not after ``start``."""
    prepared = _prepare(cal)
    day, position = _local(start, prepared.tz, "start")
    end_day, end_position = _local(end, prepared.tz, "end")
    if end <= start:
        return 0
    total = 0
    while day < end_day:
        if prepared.is_working_day(day):
            total += _overlap(prepared.periods, position, US_PER_DAY)
        day, position = day + ONE_DAY, 0
        if day.weekday() == 0:
            weeks = min((end_day - day).days // 7, prepared.plain_weeks_ahead(day))
            day += weeks * ONE_WEEK
            total += weeks * prepared.week_us
    if prepared.is_working_day(day):
        total += _overlap(prepared.periods, position, end_position)
    return total // US_PER_SECOND
