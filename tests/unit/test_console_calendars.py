"""The calendar a list counts a request's deadlines on: the one its workflow pinned, of its
submission year in China time (``PolicyFile.pin``), not UTC's, with its policy's hours."""

from __future__ import annotations

import gettext
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import tomli_w
from sqlmodel import Session

from api.console.calendars import DisplayCalendars
from api.console.views import Clockwork, Texts
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.repository import record_policy_version
from tierflow.policy import PACKAGED_POLICY


def test_a_request_of_new_years_morning_in_china_counts_on_the_new_years_calendar() -> None:
    calendars = DisplayCalendars(None)
    new_year_morning = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)  # 07:00 on 1 January there
    assert calendars.at_submission(new_year_morning).first_year == 2027
    assert calendars.at_submission(datetime(2026, 12, 31, 15, 0, tzinfo=UTC)).first_year == 2026
    naive = datetime(2026, 12, 31, 23, 0)  # a row read without its zone is UTC
    assert calendars.at_submission(naive) is calendars.at_submission(new_year_morning)


def test_a_list_counts_on_the_hours_of_the_release_its_request_pinned(tmp_path: Path) -> None:
    """A request pinned a release that keeps other working hours (08:30-12:00, 13:00-18:00:
    8.5 hours a day): the queue's countdown counts on them, not the file's 7; a version not
    recorded falls back to the file's."""
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    engine = make_engine(url)
    data = tomllib.loads(resources.files("tierflow.data").joinpath(PACKAGED_POLICY).read_text())
    data["version"] = "2027.longer-days"
    data["calendar"]["working_periods"] = [["08:30", "12:00"], ["13:00", "18:00"]]
    text = tomli_w.dumps(data)
    with Session(engine) as session:
        record_policy_version(session, "2027.longer-days", text)
        session.commit()
    calendars = DisplayCalendars(None, engine)
    submitted = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    longer = calendars.at_submission(submitted, "2027.longer-days")
    assert [tuple(p) for p in longer.working_periods] == [("08:30", "12:00"), ("13:00", "18:00")]
    assert longer.first_year == 2027
    own = calendars.at_submission(submitted, "2027.not-recorded")
    assert [tuple(p) for p in own.working_periods] == [("09:00", "12:00"), ("13:30", "17:30")]

    now = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 on a Monday in China
    clocks = Clockwork(Texts("en", gettext.NullTranslations()), now, calendars)
    due = now + timedelta(days=3)
    assert clocks.countdown(due, submitted, "2027.longer-days").day_seconds == 8.5 * 3600
    assert clocks.countdown(due, submitted).day_seconds == 7 * 3600
    engine.dispose()
