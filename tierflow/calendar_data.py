"""Build pinned business calendars from the ``holidays`` package (never imported by workflows).

The result is plain data (``CalendarData``) with a version naming the library release and the
years, so a workflow that pinned it computes the same deadlines after a library upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import holidays

from schemas.policy import CalendarData

DEFAULT_WORKING_PERIODS: tuple[tuple[str, str], ...] = (("09:00", "12:00"), ("13:30", "17:30"))


def build_calendar(
    first_year: int,
    last_year: int,
    working_periods: Sequence[tuple[str, str]] = DEFAULT_WORKING_PERIODS,
    version_prefix: str = "cn",
    utc_offset_minutes: int = 480,
) -> CalendarData:
    """Return China's days off and make-up working days for the years, as pinnable data."""
    if last_year < first_year:
        raise ValueError(f"last_year ({last_year}) must not be before first_year ({first_year})")
    years = list(range(first_year, last_year + 1))
    cn = holidays.country_holidays("CN", years=years)
    weekend = sorted(cn.weekend)
    days_off: list[date] = []
    workdays: list[date] = []
    day, last = date(first_year, 1, 1), date(last_year, 12, 31)
    while day <= last:
        # Ask the library day by day: it knows both the holidays and the swapped weekend days.
        working = cn.is_working_day(day)
        if day.weekday() in weekend and working:
            workdays.append(day)
        elif day.weekday() not in weekend and not working:
            days_off.append(day)
        day += timedelta(days=1)
    # The official arrangement always moves some working days onto weekends; a year without
    # any has only the fixed-date holidays the library computes: an estimate until published.
    arranged = {day.year for day in workdays}
    return CalendarData(
        version=f"{version_prefix}-holidays-{holidays.__version__}-{first_year}-{last_year}",
        utc_offset_minutes=utc_offset_minutes,
        working_periods=[tuple(period) for period in working_periods],
        weekend_days=weekend,
        holidays=days_off,
        workdays=workdays,
        first_year=first_year,
        last_year=last_year,
        estimated_years=[year for year in years if year not in arranged],
    )
