"""The Alembic migrations build exactly the SQLModel schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, bindparam, inspect, text
from sqlmodel import Session, SQLModel, select

import tierflow.db.auth_models  # noqa: F401 - registers the tables
import tierflow.db.grade_models  # noqa: F401 - registers the tables
import tierflow.db.models  # noqa: F401 - registers the tables
from activities.persistence import TransitionWriter
from schemas.domain import Role, Tier
from tests.utils.eventually import eventually_sync
from tests.utils.factories import RecordFactory, caseworker, make_request
from tierflow.db import repository
from tierflow.db.auth_models import ApiToken, ApiUser
from tierflow.db.engine import make_engine
from tierflow.db.migrate import alembic_config, current_revision, downgrade, upgrade
from tierflow.db.rollout_fills import fill_after_rollout
from tierflow.db.search import SEARCH_INDEXES, include_object
from tierflow.db.types import UtcDateTime
from tierflow_dev.devstack.postgres import PostgresServer

TABLES = {
    "service_request",
    "transition",
    "tier_hold",
    "request_part",
    "comment",
    "rating",
    "institution",
    "sla_policy_version",
    "business_calendar",
    "api_user",
    "api_token",
    "console_session",
    "notification",
    "notification_preference",
    "enterprise_grade",
    "directory_version",
    "whatif_run",
    "sla_policy_release",
    "contact_erasure",
    "security_event",
}


def schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": include_object}
            context = MigrationContext.configure(conn, opts=opts)
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def insert_row(conn: Connection, sql: str, **times: datetime) -> None:
    """Insert a row as an older revision's table held it; ``times`` bound as stored times."""
    statement = text(sql).bindparams(*(bindparam(name, type_=UtcDateTime) for name in times))
    conn.execute(statement, times)


def test_upgrade_builds_the_model_schema_and_round_trips(empty_db_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(empty_db_url)).get_current_head()
    assert current_revision(empty_db_url) is None

    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == head
    assert tables(empty_db_url) == TABLES
    assert schema_diff(empty_db_url) == []

    downgrade(empty_db_url, "base")
    assert current_revision(empty_db_url) is None
    assert tables(empty_db_url) == set()

    upgrade(empty_db_url, "head")
    assert schema_diff(empty_db_url) == []


def test_tokens_issued_before_expiry_existed_expire_90_days_after_the_upgrade(
    empty_db_url: str,
) -> None:
    upgrade(empty_db_url, "0004_needs_operator")
    engine = make_engine(empty_db_url)
    created = datetime(2026, 11, 1, tzinfo=UTC)
    try:
        with Session(engine) as session:
            session.add(ApiUser(id="ana", role=Role.ADMIN, created_at=created))
            session.commit()
        with engine.begin() as conn:  # the token table as 0002 built it
            insert_row(
                conn,
                "INSERT INTO api_token (token_hash, display_prefix, user_id, created_at)"
                " VALUES ('ab', 'tf_abcdef', 'ana', :created)",
                created=created,
            )
        before = datetime.now(UTC)
        upgrade(empty_db_url)
        with Session(engine) as session:
            row = session.exec(select(ApiToken)).one()
    finally:
        engine.dispose()
    assert before + timedelta(days=90) <= row.expires_at
    assert row.expires_at <= datetime.now(UTC) + timedelta(days=90)
    assert row.last_used_at is None and row.revoked_at is None


def test_ratings_made_before_intake_ratings_are_the_conclusions(empty_db_url: str) -> None:
    """rating.stage: every rating stored before 受理评价 existed rated the conclusion."""
    scripts = ScriptDirectory.from_config(alembic_config(empty_db_url))
    before = scripts.get_revision("0015_rating_stage").down_revision
    assert isinstance(before, str)
    upgrade(empty_db_url, before)
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:  # the rating table as 0012 left it
            insert_row(
                conn,
                "INSERT INTO rating (event_id, request_id, rating, rated_by, tier,"
                " created_at, excluded) VALUES ('r:9', 'r', 4, 'ent', 'county', :at, false)",
                at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        upgrade(empty_db_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT stage FROM rating")).scalar_one() == "conclusion"
    finally:
        engine.dispose()


def test_requests_stored_before_the_longer_text_columns_stay_and_longer_texts_fit(
    empty_db_url: str,
) -> None:
    """0020: the submission's text columns widen in place (SQLite rebuilds the table); 0021
    to 0023 add the worklist's columns, empty for rows stored before them."""
    upgrade(empty_db_url, "0019_whatif_calendar")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:  # the row as 0019's table held it
            insert_row(
                conn,
                "INSERT INTO service_request (request_id, state, tier, category, priority, "
                "grade, division_code, enterprise_uscc, enterprise_name, contact_email, subject, "
                "description, channel, policy_version, sla_status, submitted_at, updated_at, "
                "escalation_count, needs_operator, last_sequence) VALUES ('req-before-0020', "
                "'assigned', 'county', 'financing', 'normal', 'none', '330106', "
                "'91330106MA2B0000X0', '杭州启明', 'wang@example.com', '流动资金贷款', '', "
                "'portal', '2026.4', 'on_track', :at, :at, 0, false, 2)",
                at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        upgrade(empty_db_url)
        after = make_request("req-after-0020").model_copy(update={"subject": "S" * 600})
        assert TransitionWriter(engine).persist([RecordFactory(after).submitted()]) == 1
        with Session(engine) as session:
            kept = repository.get_request(session, "req-before-0020")
            longer = repository.get_request(session, "req-after-0020")
        assert kept is not None and kept.subject == "流动资金贷款"
        assert (kept.contact_email, kept.awaiting) == ("wang@example.com", None)  # 0021's too
        assert kept.follow_up_due_at is None  # 0022's
        assert kept.paused_until is None  # 0023's
        assert longer is not None and longer.subject == "S" * 600
        indexes = {i["name"] for i in inspect(engine).get_indexes("service_request")}
    finally:
        engine.dispose()
    assert schema_diff(empty_db_url) == []  # indexes and all, as the models say
    if empty_db_url.startswith("postgresql"):  # and the search's own, on the widened columns
        assert set(SEARCH_INDEXES) <= indexes


def _insert(conn: Connection, sql: str, **values: object) -> None:
    """Insert a row as an older revision's table held it; ``at`` bound as a stored time."""
    conn.execute(text(sql).bindparams(bindparam("at", type_=UtcDateTime)), values)


def _insert_request(conn: Connection, request_id: str, state: str, sla_status: str) -> None:
    """A request's row as the revisions before 0030 held it (the columns they require)."""
    _insert(
        conn,
        "INSERT INTO service_request (request_id, state, tier, category, priority, "
        "grade, division_code, enterprise_uscc, enterprise_name, subject, "
        "description, channel, policy_version, sla_status, submitted_at, "
        "updated_at, escalation_count, needs_operator, last_sequence) VALUES "
        "(:rid, :state, 'county', 'financing', 'normal', 'none', '330106', "
        "'91330106MA2B0000X0', '杭州启明', '流动资金贷款', '', 'portal', 'test-1', "
        ":sla_status, :at, :at, 0, false, 3)",
        rid=request_id,
        state=state,
        sla_status=sla_status,
        at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_requests_projected_before_0030_know_the_unit_that_received_them(
    empty_db_url: str,
) -> None:
    """首问负责: 0030 takes the unit that registered a request (a walk-in's) and the unit it
    was first sent to from the audit trail of the requests projected before it."""
    upgrade(empty_db_url, "0029_security_event")
    engine = make_engine(empty_db_url)
    walk_in = make_request("req-walk-in").model_copy(
        update={"submitted_by": caseworker("zj-330105-sme", "window-clerk")}
    )
    window, online = RecordFactory(walk_in), RecordFactory(make_request("req-online"))
    records = [
        window.submitted(),
        window.assigned("zj-330106-sme"),
        window.escalated("zj-330100-sme", Tier.MUNICIPAL),
        online.submitted(),
        online.assigned("zj-330106-sme"),
    ]
    try:
        with engine.begin() as conn:  # the rows and audit trail as 0029's tables held them
            for r in records:
                _insert(
                    conn,
                    "INSERT INTO transition (event_id, request_id, sequence, event_type, "
                    "occurred_at, actor_id, actor_role, actor_institution_id, to_state, "
                    "to_tier, institution_id, policy_version, recorded_at, details) VALUES "
                    "(:event_id, :request_id, :sequence, :event_type, :at, :actor_id, "
                    ":actor_role, :actor_unit, :to_state, :to_tier, :unit, 'test-1', :at, '{}')",
                    event_id=r.event_id,
                    request_id=r.request_id,
                    sequence=r.sequence,
                    event_type=r.event_type.value,
                    at=r.occurred_at,
                    actor_id=r.actor.id,
                    actor_role=r.actor.role.value,
                    actor_unit=r.actor.institution_id,
                    to_state=r.to_state.value,
                    to_tier=r.to_tier.value,
                    unit=r.institution_id,
                )
            for rid in ("req-walk-in", "req-online"):
                _insert_request(conn, rid, "assigned", "on_track")
        upgrade(empty_db_url)
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT request_id, registered_by, first_holder FROM service_request "
                    "ORDER BY request_id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in found] == [
        ("req-online", None, "zj-330106-sme"),
        ("req-walk-in", "zj-330105-sme", "zj-330106-sme"),
    ]


def test_requests_rated_before_0032_carry_their_latest_conclusion_rating(
    empty_db_url: str,
) -> None:
    """0032: a request's row takes its latest rating of the conclusion (not the intake's)."""
    upgrade(empty_db_url, "0031_open_rows_indexes")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            _insert_request(conn, "req-rated", "closed", "stopped")
            for i, (rating, stage, day) in enumerate(
                ((4, "conclusion", 2), (2, "conclusion", 3), (1, "intake", 4))
            ):
                _insert(
                    conn,
                    "INSERT INTO rating (event_id, request_id, rating, rated_by, tier, "
                    "created_at, excluded, stage) VALUES (:event_id, 'req-rated', :rating, "
                    "'ent', 'county', :at, false, :stage)",
                    event_id=f"req-rated:{i}",
                    rating=rating,
                    stage=stage,
                    at=datetime(2026, 11, day, tzinfo=UTC),
                )
        upgrade(empty_db_url)
        with engine.connect() as conn:
            rated = conn.execute(text("SELECT rating FROM service_request")).scalar_one()
    finally:
        engine.dispose()
    assert rated == 2


def test_parts_left_open_on_requests_that_ended_before_0034_are_closed(
    empty_db_url: str,
) -> None:
    """0034: a co-handling part still open on a withdrawn (or rejected, or closed) request
    closes at the request's last update, marked with how it ended; a part of an open request
    and a part concluded before stay as they were."""
    upgrade(empty_db_url, "0033_scope_division")
    engine = make_engine(empty_db_url)
    parts = (
        ("req-withdrawn", "withdrawn", None),
        ("req-open", "in_progress", None),
        ("req-closed", "closed", "part_concluded"),
    )
    try:
        with engine.begin() as conn:
            for i, (request_id, state, closed_by) in enumerate(parts):
                _insert_request(conn, request_id, state, "on_track")
                _insert(
                    conn,
                    "INSERT INTO request_part (request_id, institution_id, opened_by, "
                    "added_at, due_at, closed_at, closed_by, replies_owed) VALUES (:rid, "
                    "'county-talent', :opened_by, :at, :at, :closed_at, :closed_by, 0)",
                    rid=request_id,
                    opened_by=f"{request_id}:2",
                    at=datetime(2026, 11, 1, tzinfo=UTC),
                    closed_at=None if closed_by is None else f"2026-10-{20 + i}",
                    closed_by=closed_by,
                )
        upgrade(empty_db_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT request_id, closed_by, closed_at IS NULL FROM request_part")
            ).all()
    finally:
        engine.dispose()
    assert sorted(tuple(r) for r in rows) == [
        ("req-closed", "part_concluded", False),
        ("req-open", None, True),
        ("req-withdrawn", "withdrawn", False),
    ]


def test_requests_rated_before_0040_name_the_unit_owing_their_rectification(
    empty_db_url: str,
) -> None:
    """0040: a request whose latest 整改 is open, may still be appealed, has its appeal
    waiting for a decision or a 督办 of it waiting for the reply names the rated unit, from
    the audit trail; one concluded and done with, or appealed and upheld, names none; the
    fill after a rollout names again only what it must."""
    upgrade(empty_db_url, "0039_business_calendar")
    engine = make_engine(empty_db_url)
    opened = ("rectification_opened", {"rectifying_institution": "county-a"})
    chased = {"clock": "rectification", "supervised_institution": "county-a"}
    supervised = ("supervision_opened", chased)
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    trails = {
        "req-open": [opened],
        "req-appealed": [opened, ("rectification_concluded", {}), ("rating_appealed", {})],
        "req-concluded": [opened, ("rectification_concluded", {})],
        "req-upheld": [opened, ("rating_appealed", {}), ("appeal_upheld", {})],
        "req-rejected": [opened, ("rating_appealed", {}), ("appeal_rejected", {})],
        "req-again": [
            opened,
            ("rectification_concluded", {}),
            ("rectification_opened", {"rectifying_institution": "city-b"}),
        ],
        # concluded, but a 督办 of the 整改 waits for the county's reply
        "req-reply-owed": [opened, supervised, ("rectification_concluded", {})],
        "req-replied": [
            opened,
            supervised,
            ("supervision_replied", {"clock": "rectification"}),
            ("rectification_concluded", {}),
        ],
        # concluded, and the appeal window still open
        "req-may-appeal": [
            ("rectification_opened", {"rectifying_institution": "county-a", "appeal_until": later}),
            ("rectification_concluded", {}),
        ],
    }
    try:
        with engine.begin() as conn:
            for rid, trail in trails.items():
                _insert_request(conn, rid, "closed", "stopped")
                for sequence, (event_type, details) in enumerate(trail, start=10):
                    _insert(
                        conn,
                        "INSERT INTO transition (event_id, request_id, sequence, event_type, "
                        "occurred_at, actor_id, actor_role, to_state, to_tier, "
                        "policy_version, recorded_at, details) VALUES (:event_id, :rid, "
                        ":sequence, :event_type, :at, 'x', 'caseworker', 'closed', 'county', "
                        "'test-1', :at, :details)",
                        event_id=f"{rid}:{sequence}",
                        rid=rid,
                        sequence=sequence,
                        event_type=event_type,
                        at=datetime(2026, 11, 1, tzinfo=UTC),
                        details=json.dumps(details),
                    )
        upgrade(empty_db_url)
        with engine.connect() as conn:
            named = dict(
                conn.execute(text("SELECT request_id, rectifying_unit FROM service_request")).all()
            )
        assert fill_after_rollout(engine)[-1][1] == 0  # nothing more to name
    finally:
        engine.dispose()
    assert named == {
        "req-open": "county-a",
        "req-appealed": "county-a",
        "req-concluded": None,
        "req-upheld": None,
        "req-rejected": "county-a",
        "req-again": "city-b",
        "req-reply-owed": "county-a",
        "req-replied": None,
        "req-may-appeal": "county-a",
    }


def test_postgres_sessions_run_without_jit_and_open_rows_have_their_indexes(
    db_url: str,
) -> None:
    """A year's queue reads the open rows by index; PostgreSQL's JIT, which compiled the
    queues' queries for longer than they ran, is off in every session of the pool."""
    engine = make_engine(db_url)
    try:
        indexes = {i["name"] for i in inspect(engine).get_indexes("service_request")}
        assert {"ix_service_request_open_unit", "ix_service_request_open_region"} <= indexes
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                assert conn.execute(text("SHOW jit")).scalar_one() == "off"
                conn.rollback()  # what the pool does on return: the setting stays
            with engine.connect() as conn:
                assert conn.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        engine.dispose()


def test_indexes_exist_for_the_queue_and_the_audit_trail(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        inspector = inspect(engine)
        request_indexes = {
            i["name"]: i["column_names"] for i in inspector.get_indexes("service_request")
        }
        assert request_indexes["ix_service_request_queue"] == [
            "institution_id",
            "state",
            "resolution_due_at",
        ]
        assert request_indexes["ix_service_request_tier_state"] == ["tier", "state"]
        assert request_indexes["ix_service_request_category_submitted"] == [
            "category",
            "submitted_at",
        ]
        transition_indexes = {
            i["name"]: i["column_names"] for i in inspector.get_indexes("transition")
        }
        assert transition_indexes["ix_transition_request_sequence"] == ["request_id", "sequence"]
    finally:
        engine.dispose()


def test_postgres_server_is_reusable_and_checks_names(postgres_server: PostgresServer) -> None:
    postgres_server.start()  # already running: returns once it accepts logins
    assert postgres_server.process.is_running()
    with pytest.raises(ValueError, match="database name 'Bad-Name'"):
        postgres_server.create_database("Bad-Name")
    url = postgres_server.create_database("t_reused")
    assert url == postgres_server.create_database("t_reused")  # dropped and created again
    assert tables(url) == set()


def test_a_database_copied_from_a_template_has_its_tables(
    postgres_server: PostgresServer, migrated_postgres: str
) -> None:
    """How ``db_url`` gives each test a database at head without running the migrations."""
    url = postgres_server.create_database("t_copied", template=migrated_postgres)
    assert (
        current_revision(url) == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    )
    assert "service_request" in tables(url)
    with pytest.raises(ValueError, match="template 'Bad-Name'"):
        postgres_server.create_database("t_copied", template="Bad-Name")
    with pytest.raises(ValueError, match="keeps the template's LC_CTYPE"):
        postgres_server.create_database("t_copied", ctype="C.UTF-8", template=migrated_postgres)


def test_a_failed_upgrade_keeps_the_steps_it_completed_and_resumes(empty_db_url: str) -> None:
    """Each revision commits on its own (tables are locked one step at a time): an upgrade
    that fails at 0017 (a table in its way) stays at 0016 on PostgreSQL, and runs on from
    there once the way is clear. SQLite keeps the steps as well."""
    upgrade(empty_db_url, "0002_api_auth")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE whatif_run (x integer)"))
        with pytest.raises(Exception, match="whatif_run"):
            upgrade(empty_db_url)
        stopped = current_revision(empty_db_url)
        assert stopped is not None and stopped < "0017" and stopped >= "0016"
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE whatif_run"))
    finally:
        engine.dispose()
    if empty_db_url.startswith("postgresql"):  # SQLite's batch steps are not transactional
        upgrade(empty_db_url)
        assert (
            current_revision(empty_db_url)
            == ScriptDirectory.from_config(alembic_config(empty_db_url)).get_current_head()
        )


# holds every update of a request until the test lets it go: as a fill waits behind the
# projection's writes, or takes long on a year of requests
WAIT_IN_UPDATES = """
CREATE FUNCTION wait_for_test() RETURNS trigger AS $$
BEGIN PERFORM pg_advisory_lock(4242); PERFORM pg_advisory_unlock(4242); RETURN NEW; END
$$ LANGUAGE plpgsql;
CREATE TRIGGER wait_for_test BEFORE UPDATE ON service_request
FOR EACH ROW EXECUTE FUNCTION wait_for_test();
"""


@pytest.mark.postgres
def test_a_backfilling_revision_keeps_the_requests_readable(
    postgres_server: PostgresServer,
) -> None:
    """0030 fills a column of every request. While its fill waits (here on a lock the test
    holds), a read of a request answers: the column's ADD held the table's lock through the
    whole fill, and every reader of the requests waited with it."""
    url = postgres_server.create_database(f"t_{uuid.uuid4().hex[:16]}")
    upgrade(url, "0029_security_event")
    engine = make_engine(url)
    holder = engine.connect()
    try:
        with engine.begin() as conn:
            _insert_request(conn, "req-read", "assigned", "on_track")
            conn.execute(text(WAIT_IN_UPDATES))
        holder.execute(text("SELECT pg_advisory_lock(4242)"))
        holder.commit()
        migrating = threading.Thread(target=upgrade, args=(url, "0030_first_receiver"))
        migrating.start()

        def fill_waits() -> bool:
            with engine.connect() as conn:
                query = (
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'advisory' "
                    "AND query LIKE 'UPDATE service_request SET%'"
                )
                return bool(conn.execute(text(query)).first())

        eventually_sync(fill_waits, timeout=20, what="0030's fill waiting in the trigger")
        with engine.connect() as reader:
            reader.execute(text("SET statement_timeout = '5s'"))
            read = reader.execute(
                text("SELECT state FROM service_request WHERE request_id = 'req-read'")
            ).scalar()
        assert read == "assigned"
    finally:
        holder.execute(text("SELECT pg_advisory_unlock(4242)"))  # the fill goes on, and ends
        holder.close()
    migrating.join(timeout=60)
    try:
        assert current_revision(url) == "0030_first_receiver"
    finally:
        engine.dispose()
