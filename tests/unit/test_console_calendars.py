"""The calendar a list counts a request's deadlines on: the one its workflow pinned, of its
submission year in China time (``PolicyFile.pin``), not UTC's."""

from __future__ import annotations

from datetime import UTC, datetime

from api.console.calendars import DisplayCalendars


def test_a_request_of_new_years_morning_in_china_counts_on_the_new_years_calendar() -> None:
    calendars = DisplayCalendars(None)
    new_year_morning = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)  # 07:00 on 1 January there
    assert calendars.at_submission(new_year_morning).first_year == 2027
    assert calendars.at_submission(datetime(2026, 12, 31, 15, 0, tzinfo=UTC)).first_year == 2026
    naive = datetime(2026, 12, 31, 23, 0)  # a row read without its zone is UTC
    assert calendars.at_submission(naive) is calendars.at_submission(new_year_morning)
