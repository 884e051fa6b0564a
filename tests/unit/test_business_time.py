"""Business-time arithmetic on the real CN calendar (holidays 0.109), plus property tests."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.policy import CalendarData
from tierflow.calendar_data import build_calendar
from workflows.business_time import (
    add_business_seconds,
    business_day_seconds,
    business_seconds_between,
    is_working_day,
)

CST = timezone(timedelta(hours=8))
HOUR = 3600
CAL = build_calendar(2025, 2026)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


def _slow_between(start: datetime, end: datetime, cal: CalendarData) -> int:
    """Oracle: walk every local day and intersect it with each working period."""
    tz = timezone(timedelta(minutes=cal.utc_offset_minutes))
    total = timedelta()
    day = start.astimezone(tz).date()
    while day <= end.astimezone(tz).date():
        if is_working_day(day, cal):
            for begin, finish in cal.working_periods:
                low = datetime.combine(day, time.fromisoformat(begin), tzinfo=tz)
                high = datetime.combine(day, time.fromisoformat(finish), tzinfo=tz)
                total += max(timedelta(), min(high, end) - max(low, start))
        day += timedelta(days=1)
    return int(total.total_seconds())


# --- the real calendar ------------------------------------------------------------------------

OFF_WEEKDAYS = {
    2025: ["01-01", "01-28", "01-29", "01-30", "01-31", "02-03", "02-04", "04-04", "05-01"]
    + ["05-02", "05-05", "06-02", "10-01", "10-02", "10-03", "10-06", "10-07", "10-08"],
    2026: ["01-01", "01-02", "02-16", "02-17", "02-18", "02-19", "02-20", "02-23", "04-06"]
    + ["05-01", "05-04", "05-05", "06-19", "09-25", "10-01", "10-02", "10-05", "10-06", "10-07"],
}
MAKE_UP_WORKDAYS = {
    2025: ["01-26", "02-08", "04-27", "09-28", "10-11"],
    2026: ["01-04", "02-14", "02-28", "05-09", "09-20", "10-10"],
}


def _dates(table: dict[int, list[str]]) -> set[date]:
    return {date.fromisoformat(f"{year}-{md}") for year, days in table.items() for md in days}


def test_calendar_matches_state_council_schedule_for_2025_and_2026() -> None:
    assert set(CAL.holidays) == _dates(OFF_WEEKDAYS)
    assert set(CAL.workdays) == _dates(MAKE_UP_WORKDAYS)
    assert CAL.version == "cn-holidays-0.109-2025-2026"
    assert (CAL.first_year, CAL.last_year, CAL.weekend_days) == (2025, 2026, [5, 6])


def test_national_day_2025_and_its_make_up_days() -> None:
    for offset in range(8):
        assert not is_working_day(date(2025, 10, 1) + timedelta(days=offset), CAL)
    assert is_working_day(date(2025, 9, 28), CAL)  # Sunday
    assert is_working_day(date(2025, 10, 11), CAL)  # Saturday
    assert is_working_day(date(2025, 10, 9), CAL)
    assert not is_working_day(date(2025, 10, 12), CAL)  # plain Sunday


def test_outside_coverage_only_weekends_are_off() -> None:
    assert is_working_day(date(2030, 10, 1), CAL)  # a Tuesday, National Day, but not covered
    assert not is_working_day(date(2030, 10, 5), CAL)  # Saturday
    assert is_working_day(date(2024, 10, 1), CAL)


# --- specific deadlines -----------------------------------------------------------------------


def test_friday_evening_counts_the_make_up_sunday() -> None:
    friday = cst(2025, 9, 26, 17, 0)
    # Half an hour on Friday, then Sunday 28 Sep is a working day.
    assert add_business_seconds(friday, 4 * HOUR, CAL) == cst(2025, 9, 28, 14, 0)
    # Eight hours need Friday 0.5 h + Sunday 7 h + Monday 0.5 h (not Tuesday, thanks to Sunday).
    assert add_business_seconds(friday, 8 * HOUR, CAL) == cst(2025, 9, 29, 9, 30)
    assert business_seconds_between(friday, cst(2025, 9, 29, 9, 0), CAL) == 7.5 * HOUR


def test_golden_week_is_skipped() -> None:
    tuesday = cst(2025, 9, 30, 16, 0)
    deadline = add_business_seconds(tuesday, 8 * HOUR, CAL)
    assert deadline == cst(2025, 10, 9, 17, 0)
    assert deadline.tzinfo is UTC
    assert deadline.astimezone(CST).date() == date(2025, 10, 9)
    # The same instant written in UTC gives the same deadline.
    assert add_business_seconds(datetime(2025, 9, 30, 8, 0, tzinfo=UTC), 8 * HOUR, CAL) == deadline


def test_lunch_break_is_not_business_time() -> None:
    assert add_business_seconds(cst(2025, 9, 29, 11, 0), 2 * HOUR, CAL) == cst(2025, 9, 29, 14, 30)
    assert add_business_seconds(cst(2025, 9, 29, 12, 45), HOUR, CAL) == cst(2025, 9, 29, 14, 30)
    # Exactly the morning: the earliest instant is the end of the period, not 13:30.
    assert add_business_seconds(cst(2025, 9, 29, 9, 0), 3 * HOUR, CAL) == cst(2025, 9, 29, 12, 0)
    assert business_seconds_between(cst(2025, 9, 29, 11, 0), cst(2025, 9, 29, 14, 0), CAL) == (
        1.5 * HOUR
    )


def test_start_before_and_after_hours() -> None:
    assert add_business_seconds(cst(2025, 9, 29, 7, 0), HOUR, CAL) == cst(2025, 9, 29, 10, 0)
    assert add_business_seconds(cst(2025, 9, 29, 18, 0), HOUR, CAL) == cst(2025, 9, 30, 10, 0)
    assert add_business_seconds(cst(2025, 10, 4, 10, 0), 60, CAL) == cst(2025, 10, 9, 9, 1)


def test_zero_seconds_and_empty_spans() -> None:
    saturday = cst(2025, 10, 4, 3, 0)
    assert add_business_seconds(saturday, 0, CAL) == saturday
    assert business_seconds_between(saturday, saturday, CAL) == 0
    assert business_seconds_between(cst(2025, 10, 9), cst(2025, 10, 8), CAL) == 0
    assert business_day_seconds(CAL) == 7 * HOUR


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        add_business_seconds(datetime(2025, 9, 29, 9), 60, CAL)
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        add_business_seconds(cst(2025, 9, 29, 9), -1, CAL)
    overlapping = CAL.model_copy(
        update={"working_periods": [("09:00", "12:00"), ("11:00", "13:00")]}
    )
    with pytest.raises(ValueError, match=r"working_periods: period 1 .* previous period"):
        add_business_seconds(cst(2025, 9, 29, 9), 60, overlapping)
    bad_time = CAL.model_copy(update={"working_periods": [("9am", "12:00")]})
    with pytest.raises(ValueError, match="'9am' is not HH:MM"):
        is_working_day(date(2025, 9, 29), bad_time)


def test_long_spans_are_fast_and_exact() -> None:
    start = cst(2024, 6, 3, 10, 0)
    two_years = 2 * 250 * 7 * HOUR
    began = clock.perf_counter()
    end = add_business_seconds(start, two_years, CAL)
    elapsed = clock.perf_counter() - began
    assert elapsed < 0.05, f"adding two business years took {elapsed:.3f}s"
    assert business_seconds_between(start, end, CAL) == two_years == _slow_between(start, end, CAL)
    far = add_business_seconds(start, 10**9, CAL)  # ~150 years: whole weeks are skipped
    assert business_seconds_between(start, far, CAL) == 10**9


# --- properties -------------------------------------------------------------------------------

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
instants = st.datetimes(
    min_value=datetime(2023, 6, 1), max_value=datetime(2027, 6, 30), timezones=offsets
)
whole_second_instants = instants.map(lambda d: d.replace(microsecond=0))
spans = st.integers(min_value=0, max_value=3 * 250 * 7 * HOUR)


@settings(max_examples=150, deadline=None)
@given(start=instants, seconds=spans)
def test_between_inverts_add(start: datetime, seconds: int) -> None:
    end = add_business_seconds(start, seconds, CAL)
    assert end >= start
    assert end.tzinfo is UTC
    assert business_seconds_between(start, end, CAL) == seconds


@settings(max_examples=150, deadline=None)
@given(start=instants, a=spans, b=spans)
def test_add_is_monotonic_and_additive(start: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert add_business_seconds(start, low, CAL) <= add_business_seconds(start, high, CAL)
    step = add_business_seconds(add_business_seconds(start, a, CAL), b, CAL)
    assert step == add_business_seconds(start, a + b, CAL)


@settings(max_examples=150, deadline=None)
@given(start=instants, seconds=st.integers(min_value=1, max_value=30 * 7 * HOUR))
def test_add_lands_inside_or_at_end_of_a_working_period(start: datetime, seconds: int) -> None:
    local = add_business_seconds(start, seconds, CAL).astimezone(CST)
    assert is_working_day(local.date(), CAL)
    moment = local.time()
    assert any(
        time.fromisoformat(begin) < moment <= time.fromisoformat(end)
        for begin, end in CAL.working_periods
    )
    # Earliest instant: one microsecond earlier, the target has not yet been reached.
    assert business_seconds_between(start, local - timedelta(microseconds=1), CAL) == seconds - 1


@settings(max_examples=100, deadline=None)
@given(a=whole_second_instants, b=whole_second_instants, c=whole_second_instants)
def test_between_matches_oracle_and_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    first, middle, last = sorted((a, b, c))
    assert business_seconds_between(first, last, CAL) == _slow_between(first, last, CAL)
    assert business_seconds_between(first, middle, CAL) + business_seconds_between(
        middle, last, CAL
    ) == business_seconds_between(first, last, CAL)
    assert business_seconds_between(last, first, CAL) == 0


def test_a_calendar_replaced_or_grown_is_prepared_again() -> None:
    """Prepared calendars are cached per calendar object: a new holiday list must not be
    answered from the old one (the cache checks what it was prepared from)."""
    start = datetime(2026, 3, 2, 9, 0, tzinfo=CST)  # a Monday
    cal = CALENDAR_2026_PLAIN.model_copy(deep=True)
    assert add_business_seconds(start, 8 * HOUR, cal) == datetime(2026, 3, 3, 10, 0, tzinfo=CST)
    cal.holidays = [date(2026, 3, 3)]  # Tuesday off
    assert add_business_seconds(start, 8 * HOUR, cal) == datetime(2026, 3, 4, 10, 0, tzinfo=CST)
    cal.holidays.append(date(2026, 3, 4))  # and Wednesday
    assert add_business_seconds(start, 8 * HOUR, cal) == datetime(2026, 3, 5, 10, 0, tzinfo=CST)
    assert business_seconds_between(start, datetime(2026, 3, 5, 10, 0, tzinfo=CST), cal) == 8 * HOUR


CALENDAR_2026_PLAIN = CalendarData(version="plain-2026", first_year=2026, last_year=2026)
