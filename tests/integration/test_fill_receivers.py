"""``tierflow db fill-receivers`` on SQLite and PostgreSQL: rows projected without the units
that received their request first (by a worker of the release before, during a rolling
upgrade) take them from the audit trail, once; other rows stay as they are."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, text
from sqlmodel import Session
from typer.testing import CliRunner

from activities.persistence import TransitionWriter
from schemas.domain import State
from schemas.lifecycle import EventType
from tests.utils.factories import RecordFactory, caseworker, make_request
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.db.models import ServiceRequest
from tierflow.db.rollout_fills import FILLS
from tierflow.db.types import UtcDateTime


def test_rows_projected_without_the_units_take_them_from_the_trail(db_url: str) -> None:
    engine = make_engine(db_url)
    walk_in = make_request("req-walk-in").model_copy(
        update={"submitted_by": caseworker("zj-330105-sme", "window-clerk")}
    )
    window, online = RecordFactory(walk_in), RecordFactory(make_request("req-online"))
    TransitionWriter(engine).persist(
        [
            window.submitted(),
            window.assigned("zj-330106-sme"),
            online.submitted(),
            online.assigned("zj-330106-sme"),
        ]
    )
    with engine.begin() as conn:  # as a worker of the release before wrote them
        conn.execute(text("UPDATE service_request SET registered_by = NULL, first_holder = NULL"))
    env = {"TIERFLOW_DATABASE_URL": db_url, "TIERFLOW_LANG": "en"}
    try:
        filled = CliRunner().invoke(cli_app, ["db", "fill-receivers"], env=env)
        assert filled.exit_code == 0, filled.output
        assert "3 values filled" in filled.output  # two first holders, one registration
        with Session(engine) as session:
            found = {
                rid: (row.registered_by, row.first_holder)
                for rid in ("req-walk-in", "req-online")
                if (row := session.get(ServiceRequest, rid)) is not None
            }
        assert found == {
            "req-walk-in": ("zj-330105-sme", "zj-330106-sme"),
            "req-online": (None, "zj-330106-sme"),
        }
        again = CliRunner().invoke(cli_app, ["db", "fill-receivers"], env=env)
        assert again.exit_code == 0 and "0 values filled" in again.output
    finally:
        engine.dispose()


def test_rows_projected_without_the_rating_take_it_from_the_rating_table(db_url: str) -> None:
    engine = make_engine(db_url)
    rated, unrated = RecordFactory(make_request("req-rated")), RecordFactory(make_request("req-no"))
    TransitionWriter(engine).persist(
        [
            rated.submitted(),
            rated.assigned("zj-330106-sme"),
            rated.emit(EventType.RESOLVED, State.RESOLVED),
            rated.emit(EventType.RATED, details={"rating": 2}),
            unrated.submitted(),
            unrated.assigned("zj-330106-sme"),
        ]
    )
    with engine.begin() as conn:  # as a worker of the release before wrote them
        conn.execute(text("UPDATE service_request SET rating = NULL"))
    env = {"TIERFLOW_DATABASE_URL": db_url, "TIERFLOW_LANG": "en"}
    try:
        filled = CliRunner().invoke(cli_app, ["db", "fill-ratings"], env=env)
        assert filled.exit_code == 0 and "1 row filled" in filled.output, filled.output
        with Session(engine) as session:
            found = {
                rid: session.get(ServiceRequest, rid).rating for rid in ("req-rated", "req-no")
            }  # type: ignore[union-attr]
        assert found == {"req-rated": 2, "req-no": None}
        again = CliRunner().invoke(cli_app, ["db", "fill-ratings"], env=env)
        assert again.exit_code == 0 and "0 rows filled" in again.output
    finally:
        engine.dispose()


def test_after_a_rollout_every_revisions_fill_runs_again(db_url: str) -> None:
    """A worker of the release before, still running after 0034, left a withdrawn request's
    co-handling part open (its unit kept the enterprise's contact in scope): the one command
    after the rollout closes it, with the other revisions' fills, and again changes nothing."""
    engine = make_engine(db_url)
    f = RecordFactory(make_request("req-withdrawn"))
    rated = RecordFactory(make_request("req-intake-rated"))  # charged right: left as it is
    TransitionWriter(engine).persist(
        [
            f.submitted(),
            f.assigned("zj-330106-sme"),
            rated.submitted(),
            rated.assigned("zj-330106-sme"),
            rated.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED),
            rated.emit(EventType.RATED, details={"rating": 4, "stage": "intake"}),
        ]
    )
    with engine.begin() as conn:  # as the release before left it
        conn.execute(
            text(
                "INSERT INTO request_part (request_id, institution_id, opened_by, added_at, "
                "due_at, replies_owed) VALUES ('req-withdrawn', 'zj-330105-sme', "
                "'req-withdrawn:3', :at, :at, 0)"
            ).bindparams(bindparam("at", type_=UtcDateTime)),
            {"at": datetime(2026, 11, 2, tzinfo=UTC)},
        )
        conn.execute(
            text("UPDATE service_request SET state = 'withdrawn' WHERE request_id = :rid"),
            {"rid": "req-withdrawn"},
        )
    env = {"TIERFLOW_DATABASE_URL": db_url, "TIERFLOW_LANG": "en"}
    try:
        done = CliRunner().invoke(cli_app, ["db", "fill-after-rollout"], env=env)
        assert done.exit_code == 0, done.output
        assert "co-handling parts of ended requests, closed (0034): 1" in done.output
        with engine.connect() as conn:
            closed = conn.execute(text("SELECT closed_at, closed_by FROM request_part")).one()
        assert closed.closed_at is not None and closed.closed_by == "withdrawn"
        again = CliRunner().invoke(cli_app, ["db", "fill-after-rollout"], env=env)
        assert again.exit_code == 0
        counts = [line.rsplit(": ", 1)[1] for line in again.output.splitlines()]
        assert counts == ["0"] * len(FILLS), again.output  # each touches only rows that need it
    finally:
        engine.dispose()
