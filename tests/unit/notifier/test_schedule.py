"""Non-urgent messages wait for working hours on China's business calendar (injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime

from tierflow.calendar_data import build_calendar
from workers.notifier.schedule import deliver_at

CAL = build_calendar(2026, 2027)


def test_within_working_hours_a_message_goes_at_once() -> None:
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
    assert deliver_at(now, CAL, urgent=False) == now


def test_at_3am_on_a_holiday_it_waits_for_the_first_working_morning() -> None:
    now = datetime(2026, 10, 1, 19, 0, tzinfo=UTC)  # 2 Oct 03:00 Shanghai, National Day
    due = deliver_at(now, CAL, urgent=False)
    # the National Day holiday of 2026 runs 1-7 October; work resumes on Thursday 8 October
    assert due == datetime(2026, 10, 8, 1, 0, tzinfo=UTC)  # 09:00 Shanghai


def test_over_lunch_it_waits_for_the_afternoon_period() -> None:
    now = datetime(2026, 12, 1, 4, 15, tzinfo=UTC)  # 12:15 Shanghai
    assert deliver_at(now, CAL, urgent=False) == datetime(2026, 12, 1, 5, 30, tzinfo=UTC)


def test_an_urgent_message_goes_at_once_whatever_the_hour() -> None:
    now = datetime(2026, 10, 1, 19, 0, tzinfo=UTC)
    assert deliver_at(now, CAL, urgent=True) == now
