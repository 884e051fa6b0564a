"""Errors keep what they carry out of logs and answers: statement parameters, exception text.

A database error's text quotes the statement's values (a comment's text, a contact detail), so
engines hide them; the API answers a database error with its type only, and its ``/healthz``
(unauthenticated) names a failing check by the error's type, never its text.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import IntegrityError, StatementError
from temporalio.client import Client

from activities.persistence import TransitionWriter
from api.app import create_app
from schemas.domain import Role
from tests.utils.api_helpers import asgi_client, make_users
from tests.utils.factories import RecordFactory, make_request
from tierflow.db.engine import make_engine
from tierflow.db.models import Comment
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port


def canary() -> str:
    return f"PII-CANARY-{uuid.uuid4().hex[:16]}"


def everything_about(exc: BaseException) -> str:
    """Return what a log line with ``exc_info`` would print: the whole chained traceback."""
    return "".join(traceback.format_exception(exc))


def test_an_integrity_error_does_not_quote_the_contact_detail(
    db_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    marker = canary()
    row = {
        "request_id": "req-dup",
        "author_id": "cw",
        "author_role": Role.CASEWORKER.value,
        "body": f"call {marker}",
        "created_at": datetime.now(UTC),
        "event_id": "req-dup:7",
    }
    with db_engine.begin() as conn:
        conn.execute(insert(Comment), row)
    with pytest.raises(IntegrityError) as err, db_engine.begin() as conn:
        conn.execute(insert(Comment), row)  # the same event id again
    logging.getLogger("tierflow.test").exception("insert failed")
    assert "comment" in str(err.value)  # the statement is there, its values are not
    assert marker not in everything_about(err.value)
    assert marker not in caplog.text


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
    assert "database error OperationalError on GET /api/v1/requests" in caplog.text
    assert marker not in r.text and marker not in caplog.text


async def test_healthz_names_the_failing_check_without_its_text(sqlite_url: str) -> None:
    port = free_port()  # nothing listens there
    client = await Client.connect(f"127.0.0.1:{port}", lazy=True)
    engine = make_engine(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url), client, engine)
    try:
        async with asgi_client(app) as http:
            r = await http.get("/healthz")
    finally:
        engine.dispose()
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unhealthy" and body["database"] == "ok"
    assert body["temporal"].startswith("error: ") and " " not in body["temporal"][7:]
    assert str(port) not in r.text
