"""The erasure's cutoff is the start of a day in China, whatever the clock's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tierflow.privacy import day_start, retention_cutoff

CHINA = timedelta(hours=8)


def test_a_day_starts_at_midnight_in_shanghai() -> None:
    start = day_start(date(2026, 5, 11))
    assert start == datetime(2026, 5, 10, 16, 0, tzinfo=UTC)
    assert start.utcoffset() == CHINA and start.date() == date(2026, 5, 11)


def test_the_retention_keeps_whole_china_days_after_the_day_a_request_ended() -> None:
    late_evening = datetime(2026, 5, 10, 15, 59, tzinfo=UTC)  # 23:59 on 10 May in China
    just_after_midnight = datetime(2026, 5, 10, 16, 0, tzinfo=UTC)  # 00:00 on 11 May
    assert retention_cutoff(late_evening, 3) == day_start(date(2026, 5, 7))
    assert retention_cutoff(just_after_midnight, 3) == day_start(date(2026, 5, 8))
    # three years, across a leap day: 1095 days before 2029-03-01 is 2026-03-02
    assert retention_cutoff(datetime(2029, 3, 1, 4, tzinfo=UTC), 1095).date() == date(2026, 3, 2)
