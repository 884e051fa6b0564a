"""A worker's policy source on a real SQLite database: the file serves before any release, a
release serves from its instant on (not before), a failing database keeps the releases known
and says so. The thread that checks every few seconds: ``test_checked_source``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from tests.utils.fast_policy import Targets, policy_text
from tierflow.checked_source import NotReadYet
from tierflow.policy import parse_policy
from tierflow.policy_source import RecordedPolicy
from tierflow.policy_store import add_policy, promote

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
FILE = parse_policy(policy_text(Targets(version="file-1")))


def released(engine: Engine, version: str, at: datetime) -> None:
    text = policy_text(Targets(response=900, version=version))
    add_policy(engine, text, added_by="admin", configured=None)
    promote(engine, version, at, promoted_by="admin", now=NOW)


def test_a_release_serves_from_its_instant_on(sqlite_engine: Engine) -> None:
    source = RecordedPolicy(sqlite_engine, FILE, interval=0)
    assert source.at(NOW) is FILE and not source.failed
    released(sqlite_engine, "v1", NOW + timedelta(hours=1))
    assert source.at(NOW + timedelta(hours=2)) is FILE  # not checked yet: no waiting
    assert source.refresh()
    assert source.at(NOW + timedelta(minutes=59)) is FILE
    assert source.at(NOW + timedelta(hours=1)).version == "v1"
    released(sqlite_engine, "v2", NOW + timedelta(days=1))
    source.refresh()
    assert [r.version for r in source.releases()] == ["v1", "v2"]
    assert source.at(NOW + timedelta(hours=23)).version == "v1"
    assert source.at(NOW + timedelta(days=2)).version == "v2"


def test_a_failing_database_keeps_the_releases_known(sqlite_engine: Engine) -> None:
    released(sqlite_engine, "v1", NOW)
    source = RecordedPolicy(sqlite_engine, FILE, interval=0)
    assert source.at(NOW).version == "v1"
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE sla_policy_release RENAME TO sla_policy_release_away"))
    assert not source.refresh() and source.failed
    assert "OperationalError" in (source.error or "")
    assert source.at(NOW).version == "v1"
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE sla_policy_release_away RENAME TO sla_policy_release"))
    assert source.refresh() and source.error is None


def test_started_while_the_database_is_down_it_pins_nothing_until_read(
    sqlite_engine: Engine,
) -> None:
    released(sqlite_engine, "v1", NOW)
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE sla_policy_release RENAME TO sla_policy_release_away"))
    source = RecordedPolicy(sqlite_engine, FILE, interval=0)
    assert source.failed
    with pytest.raises(NotReadYet, match="policy in the database has not been read yet"):
        source.at(NOW)  # not the file: a release may be in force
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE sla_policy_release_away RENAME TO sla_policy_release"))
    assert source.refresh()
    assert source.at(NOW).version == "v1"
