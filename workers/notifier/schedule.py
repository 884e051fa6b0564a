"""When a message may go out: at once, or at the next working hours of the business calendar.

Pure functions of the time given (tests inject the clock): no reminder mail at 3 am on a
holiday unless the rule says the message is urgent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.policy import CalendarData
from tierflow.calendar_data import build_calendar
from workflows.business_time import add_business_seconds

ONE_SECOND = timedelta(seconds=1)


def deliver_at(now: datetime, calendar: CalendarData, *, urgent: bool) -> datetime:
    """Return ``now`` if urgent or within working hours, else the start of the next ones."""
    if urgent:
        return now
    # the instant one business second has passed, less that second: now itself during working
    # hours, otherwise the start of the next working period
    return add_business_seconds(now, 1, calendar) - ONE_SECOND


class BusinessHours:
    """The calendar for the years around now, rebuilt when the year moves on."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled  # False: every message goes at once
        self._calendar: CalendarData | None = None

    def calendar(self, now: datetime) -> CalendarData:
        cal = self._calendar
        if cal is None or not cal.first_year < now.year < cal.last_year:
            cal = self._calendar = build_calendar(now.year - 1, now.year + 2)
        return cal

    def deliver_at(self, now: datetime, *, urgent: bool) -> datetime:
        return deliver_at(now, self.calendar(now), urgent=urgent or not self.enabled)
