"""Errors keep what they carry out of logs and answers: statement parameters, exception text.

A database error's text quotes the statement's values (a comment's text, a contact detail), so
engines hide them; the API answers a database error with its type only, and its ``/healthz``
(unauthenticated) names a failing check by the error's type, never its text. PostgreSQL's own
message can quote the value it refused; a permanent activity failure keeps only the error's
types, SQLSTATE and the schema names the driver gives, so the value reaches no log, activity
failure, operator hold or lifecycle event.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlmodel import Session
from temporalio.client import Client

from activities.failures import describe
from activities.persistence import TransitionWriter
from api.app import create_app
from schemas.domain import Role
from schemas.lifecycle import ActionKind, RequestView
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import asgi_client, make_users
from tests.utils.eventually import eventually
from tests.utils.factories import RecordFactory, caseworker, make_request
from tests.utils.fast_policy import Targets, policy_worker
from tests.utils.stack_helpers import act, read_events, start_request
from tierflow.db import repository
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.models import Comment
from tierflow.metrics import WorkerMetrics
from tierflow.settings import Settings
from tierflow_dev.devstack.postgres import PostgresServer
from tierflow_dev.devstack.procs import free_port
from workflows.service_request import ServiceRequestWorkflow

# PostgreSQL evaluates this on a comment's text and refuses it quoting the text on the first
# line of its message: invalid input syntax for type integer: "<text>" (SQLSTATE 22P02)
QUOTING_CHECK = "ALTER TABLE comment ADD CONSTRAINT comment_body_numeric CHECK (body::integer >= 0)"


def canary() -> str:
    return f"PII-CANARY-{uuid.uuid4().hex[:16]}"


def everything_about(exc: BaseException) -> str:
    """Return what a log line with ``exc_info`` would print: the whole chained traceback."""
    return "".join(traceback.format_exception(exc))


def comment_row(request_id: str, sequence: int, body: str) -> dict[str, object]:
    """Return a caseworker's comment on ``request_id`` as ``insert(Comment)`` takes it."""
    return {
        "request_id": request_id,
        "author_id": "cw",
        "author_role": Role.CASEWORKER.value,
        "body": body,
        "created_at": datetime.now(UTC),
        "event_id": f"{request_id}:{sequence}",
    }


def test_an_integrity_error_does_not_quote_the_contact_detail(
    db_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    marker = canary()
    row = comment_row("req-dup", 7, f"call {marker}")
    with db_engine.begin() as conn:
        conn.execute(insert(Comment), row)
    with pytest.raises(IntegrityError) as err, db_engine.begin() as conn:
        conn.execute(insert(Comment), row)  # the same event id again
    logging.getLogger("tierflow.test").exception("insert failed")
    assert "comment" in str(err.value)  # the statement is there, its values are not
    assert marker not in everything_about(err.value)
    assert marker not in caplog.text
    # a permanent failure names the error by its types, SQLSTATE and the schema's names
    assert describe(err.value) in (
        "IntegrityError (SQLITE_CONSTRAINT_UNIQUE)",
        "IntegrityError: UniqueViolation (SQLSTATE 23505, table comment, "
        "constraint comment_event_id_key)",
    )
    assert "req-dup:7" in str(err.value.orig) or db_engine.dialect.name == "sqlite"
    assert "req-dup:7" not in describe(err.value)  # PostgreSQL's DETAIL quotes the key


def test_a_transient_error_the_worker_raises_as_is_does_not_quote_comment_text(
    empty_db_url: str,
) -> None:
    """An unmigrated database fails the audit insert; Temporal logs and records that error."""
    marker = canary()
    engine = make_engine(empty_db_url)
    f = RecordFactory(make_request("req-early-pii"))
    try:
        with pytest.raises(StatementError) as err:
            TransitionWriter(engine).persist([f.commented(f"电话 {marker}")])
    finally:
        engine.dispose()
    assert "transition" in str(err.value)
    assert marker not in everything_about(err.value)


async def test_the_api_answers_a_database_error_without_its_values(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    marker = canary()
    engine = make_engine(sqlite_url)
    users = make_users(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE service_request RENAME TO service_request_gone"))
    app = create_app(Settings(database_url=sqlite_url), None, engine)
    try:
        async with asgi_client(app) as client:
            r = await client.get(
                "/api/v1/requests", params={"institution": marker}, headers=users.auth("admin")
            )
    finally:
        engine.dispose()
    assert r.status_code == 503, r.text
    assert r.json() == {
        "detail": "database error (OperationalError); retry later or see the API's log"
    }
    assert r.headers["Retry-After"] == "5"  # when to retry, as Temporal's 503s say
    assert "database error OperationalError on GET /api/v1/requests" in caplog.text
    assert marker not in r.text and marker not in caplog.text


async def test_the_console_answers_a_database_error_with_a_page(sqlite_url: str) -> None:
    """A signed-in caseworker's queue page, with the requests' table gone: a 503 page in the
    browser's language (the database holds the user's own choice) that names no statement,
    not the API's JSON."""
    engine = make_engine(sqlite_url)
    users = make_users(engine)
    app = create_app(Settings(database_url=sqlite_url), None, engine)
    try:
        async with asgi_client(app) as client:
            assert (await sign_in(client, users.tokens["cw_own"])).status_code == 303
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE service_request RENAME TO service_request_gone"))
            chinese = await client.get("/console/")
            english = await client.get("/console/", headers={"Accept-Language": "en"})
    finally:
        engine.dispose()
    assert chinese.status_code == 503 and chinese.headers["content-type"].startswith("text/html")
    assert "数据库暂时无法响应，请稍后重试。" in chinese.text
    assert "The database cannot answer right now." in english.text
    for page in (chinese, english):
        assert "service_request" not in page.text and "OperationalError" not in page.text


async def test_healthz_names_the_failing_check_without_its_text(sqlite_url: str) -> None:
    port = free_port()  # nothing listens there
    client = await Client.connect(f"127.0.0.1:{port}", lazy=True)
    engine = make_engine(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url), client, engine)
    try:
        async with asgi_client(app) as http:
            r = await http.get("/healthz")
            ready, alive = await http.get("/readyz"), await http.get("/livez")
    finally:
        engine.dispose()
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unhealthy" and body["database"] == "ok"
    assert body["temporal"].startswith("error: ") and " " not in body["temporal"][7:]
    assert str(port) not in r.text
    # reads are still served from the read model: ready, degraded, and alive (no restart)
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert ready.json()["temporal"] == body["temporal"] and str(port) not in ready.text
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}


async def test_readyz_takes_a_replica_without_its_database_out_of_service(tmp_path) -> None:
    client = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    url = f"sqlite:///{tmp_path}"  # a directory: no database opens there
    engine = make_engine(url)
    app = create_app(Settings(database_url=url), client, engine)
    try:
        async with asgi_client(app) as http:
            ready, alive = await http.get("/readyz"), await http.get("/livez")
    finally:
        engine.dispose()
    assert ready.status_code == 503 and ready.json()["database"].startswith("error: ")
    assert alive.status_code == 200


async def test_readyz_keeps_a_replica_out_until_the_schema_is_upgraded(tmp_path) -> None:
    """A release's API started before `tierflow db upgrade` ran would fail its reads on the
    columns the release added: not ready, naming why (not its revisions: unauthenticated)."""
    client = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    url = f"sqlite:///{tmp_path}/behind.db"
    upgrade(url, "0024_hold_responded_at")
    engine = make_engine(url)
    app = create_app(Settings(database_url=url), client, engine)
    try:
        async with asgi_client(app) as http:
            behind = await http.get("/readyz")
            upgrade(url)
            current = await http.get("/readyz")
    finally:
        engine.dispose()
    assert behind.status_code == 503 and behind.json()["database"] == "error: SchemaBehind"
    assert current.status_code == 200 and current.json()["database"] == "ok"


@pytest.fixture
def postgres_engine(postgres_server: PostgresServer) -> Iterator[Engine]:
    """A migrated PostgreSQL database whose comment table refuses text, quoting it."""
    url = postgres_server.create_database(f"t_{uuid.uuid4().hex[:16]}")
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(QUOTING_CHECK))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_postgresql_error_quoting_a_value_is_described_without_it(
    postgres_engine: Engine,
) -> None:
    marker = canary()
    row = comment_row("req-pg", 1, f"电话 {marker}")
    with pytest.raises(DataError) as refused, postgres_engine.begin() as conn:
        conn.execute(insert(Comment), row)
    assert marker in str(refused.value.orig)  # the driver's message quotes it: the hole
    assert describe(refused.value) == "DataError: InvalidTextRepresentation (SQLSTATE 22P02)"


@pytest.mark.postgres
async def test_a_value_postgresql_quotes_reaches_no_log_failure_hold_or_event(
    stack,
    postgres_engine: Engine,
    unique_topic: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real worker on PostgreSQL: a comment the database refuses holds the request."""
    caplog.set_level(logging.INFO)
    marker = canary()
    topic = unique_topic("events")
    req = make_request()
    metrics = WorkerMetrics(CollectorRegistry())
    async with policy_worker(
        stack, Targets(), metrics, "pg-errors", engine=postgres_engine, events_topic=topic
    ) as queue:
        handle = await start_request(stack, req, task_queue=queue)
        view: RequestView = await handle.query(ServiceRequestWorkflow.view)
        cw = caseworker(view.summary.institution_id or "")
        await act(handle, ActionKind.COMMENT, cw, text=f"请回电 {marker}")

        async def held() -> RequestView | None:
            current: RequestView = await handle.query(ServiceRequestWorkflow.view)
            return current if current.operator is not None else None

        state = await eventually(held, timeout=30, what="an operator hold")
        history = await handle.fetch_history()
        await stack.client.get_workflow_handle(handle.id).terminate("test done")
    hold = state.operator
    assert hold is not None and hold.step == "record_transitions"
    assert hold.error_type == "Permanent.DataError"
    assert hold.message == (
        "record_transitions: DataError: InvalidTextRepresentation (SQLSTATE 22P02)"
    )
    failures = [  # the local activity's failure, as Temporal recorded it
        e.marker_recorded_event_attributes.failure.message
        for e in history.events
        if e.marker_recorded_event_attributes.HasField("failure")
    ]
    assert failures and all("SQLSTATE 22P02" in f for f in failures)
    # the comment itself is in the history as a payload (base64 in JSON): the text is not
    assert marker not in history.to_json()
    with Session(postgres_engine) as session:
        audit = repository.transitions(session, req.request_id)
    needed = [t for t in audit if t.event_type.value == "operator_needed"]
    assert len(needed) == 1 and marker not in f"{needed[0].reason} {needed[0].details}"
    events = read_events(stack.bootstrap, req.request_id, topic, expect=len(audit))
    assert events and all(marker not in str(e) for e in events)
    assert "record_transitions" in caplog.text  # the worker logged the failure ...
    assert marker not in caplog.text  # ... without the value
