"""A request's page counts down on the calendar its workflow pinned, not the policy file's.

An operator may publish a newer calendar to running requests (a day declared off); the
request's page then counts that day as off, while a list, which has only read-model rows,
counts on the policy file's calendar for the submission year.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from api.console.calendars import DisplayCalendars
from api.console.views import Clockwork, Texts
from tierflow.i18n import translations
from tierflow.policy import load_policy_file

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=CST)  # a Monday, working time
DUE = datetime(2026, 3, 4, 9, 0, tzinfo=CST)  # Wednesday: two working days away


def test_a_pinned_calendar_with_a_new_day_off_counts_that_day_off() -> None:
    policy_file = load_policy_file(None)
    ordinary = policy_file.calendar_for(2026)
    published = ordinary.model_copy(
        update={
            "version": "published-test",
            "holidays": sorted({*ordinary.holidays, datetime(2026, 3, 3).date()}),
        }
    )
    texts = Texts("zh-CN", translations("zh-CN"))
    calendars = DisplayCalendars(None)
    listing = Clockwork(texts, NOW.astimezone(UTC), calendars)
    page = Clockwork(texts, NOW.astimezone(UTC), calendars, pinned=published)
    in_list = listing.countdown(DUE.astimezone(UTC), NOW)
    on_page = page.countdown(DUE.astimezone(UTC), NOW)
    day = in_list.day_seconds
    assert in_list.left == 2 * day  # Monday and Tuesday
    assert on_page.left == day  # Tuesday is off on the published calendar
    assert page.calendar(None) is published  # whatever the submission year
