"""Business calendars recorded by version: by workers at start and by ``calendar publish``.

A what-if replays a request on the days it counted (``tests/integration/test_whatif.py``);
these check that the calendars get recorded, once each, in a migrated SQLite read model.
"""

from __future__ import annotations

import datetime as dt
import socket
import tomllib
from importlib import resources
from pathlib import Path

import tomli_w
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from tierflow.calendar_data import build_calendar
from tierflow.calendar_store import (
    PinnableCalendars,
    record_calendar,
    record_pinnable,
    recorded_calendar,
)
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.models import BusinessCalendar
from tierflow.policy import PACKAGED_POLICY, load_policy_file, parse_policy
from tierflow.policy_source import RecordedPolicy
from tierflow.policy_store import add_policy, promote
from tierflow.startup import DependencyUnavailable


def _engine(tmp_path: Path) -> tuple[str, Engine]:
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    return url, make_engine(url)


def _versions(engine: Engine) -> list[str]:
    with Session(engine) as session:
        query = select(BusinessCalendar.version).order_by(col(BusinessCalendar.version))
        return list(session.exec(query))


def test_a_calendar_is_recorded_once_and_read_back_whole(tmp_path: Path) -> None:
    _, engine = _engine(tmp_path)
    calendar = load_policy_file().calendar_for(2027)
    assert record_calendar(engine, calendar, "ops-li") is True
    assert record_calendar(engine, calendar, "ops-wang") is False  # a version never changes
    assert recorded_calendar(engine, calendar.version) == calendar
    assert recorded_calendar(engine, "cn-holidays-never") is None
    with Session(engine) as session:
        row = session.get(BusinessCalendar, calendar.version)
        assert row is not None and row.recorded_by == "ops-li"
    engine.dispose()


def test_a_worker_records_the_calendars_it_pins_this_year_and_next(tmp_path: Path) -> None:
    """At start, then on each check of the releases: a release of other years promoted since,
    and the next year once the worker runs into it, are recorded too."""
    _, engine = _engine(tmp_path)
    policy = load_policy_file()
    now = [dt.datetime(2027, 6, 1, tzinfo=dt.UTC)]
    calendars = PinnableCalendars(engine, clock=lambda: now[0])
    source = RecordedPolicy(engine, policy, interval=0, on_check=calendars.record)
    assert source.checked_at is not None  # read at start
    assert _versions(engine) == sorted(policy.calendar_for(y).version for y in (2027, 2028))
    data = tomllib.loads(resources.files("tierflow.data").joinpath(PACKAGED_POLICY).read_text())
    data["version"] = "2027.longer"
    data["calendar"]["horizon_years"] = 4
    add_policy(engine, tomli_w.dumps(data), added_by="ops", configured=policy)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    promote(engine, "2027.longer", start, promoted_by="ops")
    longer = parse_policy(tomli_w.dumps(data))
    now[0] = dt.datetime(2028, 1, 2, tzinfo=dt.UTC)  # a year on
    source.refresh()
    assert longer.calendar_for(2028).version in _versions(engine)  # the release's
    assert policy.calendar_for(2029).version in _versions(engine)  # the year after the new
    assert record_pinnable(engine, [policy], (2028, 2029)) == []  # recorded already
    # a round-the-clock policy (no public holidays) pins no data worth recording
    plain = policy.model_copy(
        update={"calendar": policy.calendar.model_copy(update={"public_holidays": False})}
    )
    assert record_pinnable(engine, [plain], (2032,)) == []
    engine.dispose()


def test_calendar_publish_records_the_calendar_before_publishing(tmp_path: Path) -> None:
    """Recorded first, so a what-if can replay the publication even when some requests took
    it before the command failed (here: Temporal cannot be reached at all)."""
    url, engine = _engine(tmp_path)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_DATABASE_URL": url,
        "TIERFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "TIERFLOW_LANG": "en",
    }
    args = ["calendar", "publish", "--first-year", "2026", "--last-year", "2028", "--wait", "0"]
    result = CliRunner().invoke(cli_app, args, env=env)
    assert isinstance(result.exception, DependencyUnavailable), result.output
    published = build_calendar(2026, 2028)
    assert _versions(engine) == [published.version]
    assert recorded_calendar(engine, published.version) == published
    with Session(engine) as session:
        row = session.get(BusinessCalendar, published.version)
        assert row is not None and row.recorded_by.startswith("cli")
    engine.dispose()


def test_a_calendar_the_worker_cannot_record_does_not_stop_it(tmp_path: Path) -> None:
    """The table not there (or not granted to the worker's role): nothing recorded, no
    error for the policy check that asked (admissions go on), and a later check retries."""
    engine = make_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    calendars = PinnableCalendars(engine)
    assert calendars.record([load_policy_file()]) == []
    upgrade(str(engine.url))
    assert len(calendars.record([load_policy_file()])) == 2  # retried: this year and the next
    engine.dispose()
