"""Business calendars recorded by version: by workers at start and by ``calendar publish``.

A what-if replays a request on the days it counted (``tests/integration/test_whatif.py``);
these check that the calendars get recorded, once each, in a migrated SQLite read model.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from tierflow.calendar_data import build_calendar
from tierflow.calendar_store import record_calendar, record_pinnable, recorded_calendar
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.models import BusinessCalendar
from tierflow.policy import load_policy_file
from tierflow.startup import DependencyUnavailable
from workers.worker import _record_calendars


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
    _, engine = _engine(tmp_path)
    policy = load_policy_file()
    year = policy.local_year(dt.datetime.now(dt.UTC))
    _record_calendars(engine, policy)
    expected = sorted(policy.calendar_for(y).version for y in (year, year + 1))
    assert _versions(engine) == expected
    assert record_pinnable(engine, [policy], (year, year + 1)) == []  # recorded already
    # a round-the-clock policy (no public holidays) pins no data worth recording
    plain = policy.model_copy(
        update={"calendar": policy.calendar.model_copy(update={"public_holidays": False})}
    )
    assert record_pinnable(engine, [plain], (year + 5,)) == []
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
