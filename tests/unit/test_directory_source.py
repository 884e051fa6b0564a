"""A worker's directory source on a real SQLite database: the newest recorded version wins,
the directory file serves while none is recorded, a failing database keeps the last directory
found and says so. The thread that checks every few seconds: ``test_checked_source``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from schemas.domain import Tier
from tierflow.checked_source import NotReadYet
from tierflow.directory import Directory, DirectoryEntry
from tierflow.directory_source import RecordedDirectory
from tierflow.directory_store import newest_version, record_version

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FILE = Directory.covering([], "file-1")  # what the worker's directory file holds


def directory_json(version: str) -> str:
    """A directory of one named office, ``hz-<version>``, as a version's content."""
    office = DirectoryEntry(
        id=f"hz-{version}", name="杭州", tier=Tier.MUNICIPAL, division_code="330100"
    )
    body = {"version": version, "institutions": [office.model_dump(mode="json")]}
    return json.dumps(body, ensure_ascii=False)


def record(engine: Engine, version: str, at: datetime) -> None:
    with Session(engine) as session:
        content = directory_json(version)
        record_version(session, content, imported_by="t", source="t", imported_at=at)
        session.commit()


class Ticks:
    """A clock that moves one second a reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def test_the_file_serves_until_a_version_is_recorded(sqlite_engine: Engine) -> None:
    source = RecordedDirectory(sqlite_engine, FILE, interval=0)
    assert source.current() is FILE and not source.failed
    record(sqlite_engine, "v1", T0)
    assert source.current() is FILE  # not checked yet: no waiting on the event loop
    assert source.refresh() and source.current().version == "v1"
    assert source.current().get("hz-v1") is not None


def test_the_newest_import_wins_ties_by_version(sqlite_engine: Engine) -> None:
    record(sqlite_engine, "b", T0 + timedelta(hours=1))
    record(sqlite_engine, "a", T0)  # recorded later, imported earlier
    source = RecordedDirectory(sqlite_engine, FILE, interval=0)
    assert source.current().version == "b"
    record(sqlite_engine, "c", T0 + timedelta(hours=1))  # the same second as b
    source.refresh()
    assert source.current().version == "c" == newest_version(sqlite_engine)
    record(sqlite_engine, "d", T0 + timedelta(hours=2))
    source.refresh()
    assert source.current().version == "d"


def test_a_failing_database_keeps_the_last_directory_and_says_so(sqlite_engine: Engine) -> None:
    clock = Ticks()
    record(sqlite_engine, "v1", T0)
    source = RecordedDirectory(sqlite_engine, FILE, interval=0, clock=clock)
    found, checked = source.current(), source.checked_at
    assert found.version == "v1" and checked == 1

    with sqlite_engine.begin() as conn:  # the table gone: every check fails
        conn.execute(text("ALTER TABLE directory_version RENAME TO directory_version_away"))
    assert not source.refresh() and not source.refresh()
    assert source.failed and "OperationalError" in (source.error or "")
    assert source.current() is found and source.checked_at == checked

    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE directory_version_away RENAME TO directory_version"))
    record(sqlite_engine, "v2", T0 + timedelta(minutes=1))
    assert source.refresh() and not source.failed and source.error is None
    assert source.current().version == "v2" and source.checked_at == 2


def test_started_while_the_database_is_down_it_routes_by_nothing_until_read(
    sqlite_engine: Engine,
) -> None:
    record(sqlite_engine, "v1", T0)
    with sqlite_engine.begin() as conn:  # down at start: every check fails
        conn.execute(text("ALTER TABLE directory_version RENAME TO directory_version_away"))
    source = RecordedDirectory(sqlite_engine, FILE, interval=0)
    assert source.failed
    with pytest.raises(NotReadYet, match="directory in the database has not been read yet"):
        source.current()  # not the file: the database may hold an imported version
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE directory_version_away RENAME TO directory_version"))
    assert source.refresh()
    assert source.current().version == "v1"


async def test_a_running_request_routes_by_its_pinned_version_before_the_first_read(
    sqlite_engine: Engine,
) -> None:
    """An escalation of a request admitted earlier needs no current directory: its pinned
    version is read on its own; a request with none waits (``NotReadYet``)."""
    from activities.directory import DirectoryActivities
    from tierflow.directory_store import load_version

    record(sqlite_engine, "v1", T0)
    with sqlite_engine.begin() as conn:  # the versions' list unreadable at the start
        conn.execute(text("ALTER TABLE directory_version RENAME TO directory_version_away"))
    source = RecordedDirectory(sqlite_engine, FILE, interval=0)
    with sqlite_engine.begin() as conn:  # back, but not checked again yet
        conn.execute(text("ALTER TABLE directory_version_away RENAME TO directory_version"))
    routes = DirectoryActivities(source, versions=lambda v: load_version(sqlite_engine, v))
    assert (await routes.pinned("v1")).version == "v1"
    with pytest.raises(NotReadYet):
        await routes.pinned(None)


def test_an_import_leaving_out_a_unit_with_open_requests_is_refused_unless_allowed(
    sqlite_engine: Engine,
) -> None:
    """Left out, the unit's open requests would stay with an id nobody routes to."""
    from activities.persistence import TransitionWriter
    from tests.utils.factories import RecordFactory, make_request
    from tierflow.directory import DirectoryError
    from tierflow.directory_csv import export_csv
    from tierflow.directory_store import fill_institutions, import_directory

    packaged = Directory.load()
    fill_institutions(sqlite_engine, packaged)
    f = RecordFactory(make_request("req-open"))
    TransitionWriter(sqlite_engine).persist([f.submitted(), f.assigned("zj-330105-sme")])
    body = export_csv(e for e in packaged.entries if e.id != "zj-330105-sme" and not e.generated)

    def imported(**allowed: bool) -> object:
        return import_directory(
            body, None, "v-next", source="t.csv", imported_by="t", engine=sqlite_engine, **allowed
        )

    with pytest.raises(DirectoryError) as refused:
        imported()
    assert "zj-330105-sme, which still has work on 1 request(s)" in str(refused.value)
    assert newest_version(sqlite_engine) is None  # nothing recorded
    imported(allow_removal=True)
    assert newest_version(sqlite_engine) == "v-next"


def test_an_import_leaving_out_a_unit_that_co_handles_or_owes_a_rectification_is_refused(
    sqlite_engine: Engine,
) -> None:
    """Work a unit does on requests another unit holds counts too: an open 协办 part, a 督办
    reply it owes for its part, a 整改 it owes; left out, nobody could do it."""
    from sqlmodel import Session

    from activities.persistence import TransitionWriter
    from tests.utils.factories import T0, RecordFactory, make_request
    from tierflow.db.models import RequestPart, ServiceRequest
    from tierflow.directory import DirectoryError
    from tierflow.directory_csv import export_csv
    from tierflow.directory_store import fill_institutions, import_directory

    packaged = Directory.load()
    fill_institutions(sqlite_engine, packaged)
    held = RecordFactory(make_request("req-held"))
    rated = RecordFactory(make_request("req-rated"))
    writer = TransitionWriter(sqlite_engine)
    writer.persist([held.submitted(), held.assigned("zj-330106-sme")])
    writer.persist([rated.submitted(), rated.assigned("zj-330106-sme")])
    with Session(sqlite_engine) as session:
        part = RequestPart(
            request_id="req-held",
            institution_id="zj-330100-digital",
            opened_by="req-held:9",
            added_at=T0,
            due_at=T0,
        )
        owed = RequestPart(  # closed, but a reply to the 督办 of its late part is owed
            request_id="req-rated",
            institution_id="zj-330105-sme",
            opened_by="req-rated:9",
            added_at=T0,
            due_at=T0,
            closed_at=T0,
            closed_by="concluded",
            replies_owed=1,
        )
        row = session.get(ServiceRequest, "req-rated")
        assert row is not None
        row.rectifying_unit = "zj-330102-sme"
        session.add_all([part, owed, row])
        session.commit()
    leaving = {"zj-330100-digital", "zj-330105-sme", "zj-330102-sme"}
    body = export_csv(e for e in packaged.entries if e.id not in leaving and not e.generated)
    with pytest.raises(DirectoryError) as refused:
        import_directory(
            body, None, "v-next", source="t.csv", imported_by="t", engine=sqlite_engine
        )
    for unit in sorted(leaving):
        assert f"{unit}, which still has work on 1 request(s)" in str(refused.value)
    assert newest_version(sqlite_engine) is None  # nothing recorded
