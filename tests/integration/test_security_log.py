"""The security audit log on a real migrated database (SQLite and PostgreSQL): what
``tierflow.security_log`` writes and reads, and the records the user and token store and the
console's session service write in the transaction of each change, naming who made it; never a
token, a session id or a digest of one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlmodel import Session

from api.service.sessions import (
    SessionPolicy,
    close_session,
    open_session,
    refused_sign_in,
    resume_session,
)
from schemas.domain import Role
from tierflow import security_log
from tierflow.auth_store import (
    TOKEN_PREFIX,
    AuthStoreError,
    TokenRefused,
    create_user,
    hash_token,
    issue_token,
    list_tokens,
    possible_handlers,
    resolve_token,
    revoke_token,
    revoke_tokens,
    set_disabled,
)
from tierflow.db.auth_models import ApiUser, SecurityEvent
from tierflow.db.engine import make_engine
from tierflow.security_log import UNNAMED, SecurityEventKind, read, record
from tierflow_dev.devstack.postgres import PostgresServer

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
Kind = SecurityEventKind


def events(engine: Engine) -> list[SecurityEvent]:
    """Every record, in the order written."""
    return sorted(read(engine, limit=10_000), key=lambda event: event.id or 0)


def table_text(engine: Engine) -> str:
    """Every column of every record, as the database returns it."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM security_event")).all()
    return "\n".join(repr(tuple(row)) for row in rows)


def test_a_record_keeps_its_time_actor_subject_address_and_details(db_engine: Engine) -> None:
    record(
        db_engine,
        Kind.SIGN_IN,
        actor="ana",
        subject="ana",
        address="203.0.113.7",
        details={"token_id": 7, "via": "console"},
        now=START,
    )
    record(db_engine, Kind.ADDRESS_LOCKED, actor=None, address="2001:db8::1", now=START)
    first, second = events(db_engine)
    assert (first.kind, first.actor, first.subject, first.address) == (
        Kind.SIGN_IN,
        "ana",
        "ana",
        "203.0.113.7",
    )
    assert first.occurred_at == START and first.details == {"token_id": 7, "via": "console"}
    assert (second.actor, second.subject, second.details) == (None, None, {})


def test_a_record_goes_with_the_transaction_it_is_written_in(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        session.add(ApiUser(id="gone", role=Role.ADMIN, created_at=START))
        record(session, Kind.USER_CREATED, actor="cli:ops", subject="gone", now=START)
        session.rollback()  # the change fails: its record goes with it
    with db_engine.connect() as conn:
        record(conn, Kind.USER_CREATED, actor="cli:ops", subject="kept", now=START)
        conn.commit()
    assert [e.subject for e in events(db_engine)] == ["kept"]


@pytest.mark.parametrize(
    "details",
    [
        {"token": "tf_" + "a" * 43},
        {"hash": hash_token("tf_x")},
        {"nested": {"list": ["fine", "x" + "0" * 64]}},
        {hash_token("key"): 1},
    ],
)
def test_details_that_look_like_a_token_or_a_digest_are_refused(
    db_engine: Engine, details: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="must not hold a token or a digest"):
        record(db_engine, Kind.TOKEN_ISSUED, actor="ana", details=details, now=START)
    assert events(db_engine) == []


def test_the_secret_check_knows_the_token_prefix() -> None:
    assert security_log._SECRET_LIKE.match(TOKEN_PREFIX + "x")


def test_read_filters_by_time_kind_and_user_newest_first(db_engine: Engine) -> None:
    for hours, kind, actor, subject in [
        (0, Kind.USER_CREATED, "cli:ops", "ana"),
        (1, Kind.TOKEN_ISSUED, "cli:ops", "ana"),
        (2, Kind.SIGN_IN, "ana", "ana"),
        (3, Kind.SIGN_IN_FAILED, None, None),
        (4, Kind.USER_CREATED, "ana", "bob"),
    ]:
        record(db_engine, kind, actor=actor, subject=subject, now=START + timedelta(hours=hours))
    times = [e.occurred_at for e in read(db_engine)]
    assert times == sorted(times, reverse=True) and len(times) == 5
    since = read(db_engine, since=START + timedelta(hours=2))
    assert [e.kind for e in since] == [Kind.USER_CREATED, Kind.SIGN_IN_FAILED, Kind.SIGN_IN]
    until = read(db_engine, until=START + timedelta(hours=1))  # before, not at
    assert [e.kind for e in until] == [Kind.USER_CREATED]
    assert [e.subject for e in read(db_engine, kind=Kind.USER_CREATED)] == ["bob", "ana"]
    # what ana did and what was done to her
    assert [e.kind for e in read(db_engine, user="ana")] == [
        Kind.USER_CREATED,
        Kind.SIGN_IN,
        Kind.TOKEN_ISSUED,
        Kind.USER_CREATED,
    ]
    assert len(read(db_engine, user="cli:ops")) == 2
    assert len(read(db_engine, limit=2)) == 2


def test_user_and_token_changes_are_recorded_with_their_actor(db_engine: Engine) -> None:
    create_user(db_engine, "lead", Role.SUPERVISOR, "zj-330106-sme", actor="cli:ops")
    create_user(db_engine, "portal", Role.SYSTEM, grants=["submit", "read"], actor="cli:ops")
    token = issue_token(db_engine, "lead", timedelta(days=30), START, actor="cli:ops")
    second = issue_token(db_engine, "lead", now=START)  # a caller that names nobody
    first_id, second_id = (row.id for row in list_tokens(db_engine, "lead"))
    assert first_id is not None and second_id is not None
    revoke_token(db_engine, first_id, START + timedelta(hours=1), actor="cli:sec")
    revoke_token(db_engine, first_id, START + timedelta(hours=2), actor="cli:sec")  # no change
    assert revoke_tokens(db_engine, "lead", START + timedelta(hours=3), actor="cli:sec") == 1

    rows = events(db_engine)
    assert [(e.kind, e.actor, e.subject, e.address) for e in rows] == [
        (Kind.USER_CREATED, "cli:ops", "lead", None),
        (Kind.USER_CREATED, "cli:ops", "portal", None),
        (Kind.TOKEN_ISSUED, "cli:ops", "lead", None),
        (Kind.TOKEN_ISSUED, UNNAMED, "lead", None),
        (Kind.TOKEN_REVOKED, "cli:sec", "lead", None),
        (Kind.TOKEN_REVOKED, "cli:sec", "lead", None),
    ]
    assert rows[0].details == {
        "role": "supervisor",
        "institution_id": "zj-330106-sme",
        "grants": [],
        "tier": "county",
        "division_code": "330106",
    }
    assert rows[1].details == {
        "role": "system",
        "institution_id": None,
        "grants": ["read", "submit"],
    }
    assert rows[2].details == {"token_id": first_id, "expires_at": "2026-12-31T09:00:00Z"}
    assert rows[2].occurred_at == START
    assert rows[4].details == {"token_id": first_id}
    assert rows[4].occurred_at == START + timedelta(hours=1)
    assert rows[5].details == {"token_id": second_id, "all_of_user": True}

    dump = table_text(db_engine)
    for secret in (token, second):
        assert secret not in dump and hash_token(secret) not in dump
        assert secret[: len(TOKEN_PREFIX) + 6] not in dump  # not even the listed prefix


def test_a_disabled_user_is_refused_at_once_and_enabled_again(db_engine: Engine) -> None:
    """A leaver: disabled, their live token is refused, they are no handler choice; enabled
    again, the token works; each change recorded once, with who made it."""
    create_user(db_engine, "leaver", Role.CASEWORKER, "zj-330106-sme", actor="cli:ops")
    token = issue_token(db_engine, "leaver", actor="cli:ops")
    assert resolve_token(db_engine, token).user_id == "leaver"
    assert "leaver" in possible_handlers(db_engine, "zj-330106-sme")
    assert set_disabled(db_engine, "leaver", True, actor="cli:ops")
    assert not set_disabled(db_engine, "leaver", True, actor="cli:ops")  # already: no record
    with pytest.raises(TokenRefused):
        resolve_token(db_engine, token)
    assert "leaver" not in possible_handlers(db_engine, "zj-330106-sme")
    assert set_disabled(db_engine, "leaver", False, actor="cli:ops")
    assert resolve_token(db_engine, token).user_id == "leaver"
    kinds = [(e.kind, e.actor, e.subject) for e in events(db_engine)][-2:]
    assert kinds == [
        (Kind.USER_DISABLED, "cli:ops", "leaver"),
        (Kind.USER_ENABLED, "cli:ops", "leaver"),
    ]
    with pytest.raises(AuthStoreError, match="'nobody' does not exist"):
        set_disabled(db_engine, "nobody", True, actor="cli:ops")


def test_a_refused_change_records_nothing(db_engine: Engine) -> None:
    create_user(db_engine, "ana", Role.ADMIN, actor="cli:ops")
    with pytest.raises(AuthStoreError):
        create_user(db_engine, "ana", Role.ADMIN, actor="cli:ops")  # exists
    with pytest.raises(AuthStoreError):
        create_user(db_engine, "bob", Role.CASEWORKER, actor="cli:ops")  # no institution
    with pytest.raises(AuthStoreError):
        issue_token(db_engine, "nobody", actor="cli:ops")
    with pytest.raises(AuthStoreError):
        revoke_token(db_engine, 999, actor="cli:ops")
    with pytest.raises(AuthStoreError, match="'nobody' does not exist"):
        revoke_tokens(db_engine, "nobody", actor="cli:ops")  # a typo reads as no user
    assert revoke_tokens(db_engine, "ana", actor="cli:ops") == 0  # a user with no token
    assert [(e.kind, e.subject) for e in events(db_engine)] == [(Kind.USER_CREATED, "ana")]


def test_console_sessions_record_sign_in_out_expiry_and_refusals(db_engine: Engine) -> None:
    """The session service's records on both databases (the console's pages drive them in
    ``test_console_security_events.py``)."""
    policy = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    create_user(db_engine, "ana", Role.ADMIN, actor="cli:ops")
    token = issue_token(db_engine, "ana", now=START, actor="cli:ops")
    ana = resolve_token(db_engine, token, START)
    left = open_session(db_engine, ana, START, policy, "203.0.113.7")
    idle = open_session(db_engine, ana, START, policy, "203.0.113.8")
    assert close_session(db_engine, left, START + timedelta(minutes=1), "203.0.113.7")
    assert not close_session(db_engine, left, START + timedelta(minutes=2), "203.0.113.7")
    later = START + timedelta(hours=1)
    assert resume_session(db_engine, idle, later, policy, "198.51.100.2") is None
    assert resume_session(db_engine, idle, later, policy, "198.51.100.2") is None  # once
    revoke_tokens(db_engine, "ana", later, actor="cli:ops")
    with pytest.raises(TokenRefused) as refused:
        resolve_token(db_engine, token, later)
    refused_sign_in(db_engine, refused.value, "198.51.100.2", later)

    rows = [e for e in events(db_engine) if e.actor != "cli:ops"]
    assert [(e.kind, e.actor, e.subject, e.address, e.occurred_at) for e in rows] == [
        (Kind.SIGN_IN, "ana", "ana", "203.0.113.7", START),
        (Kind.SIGN_IN, "ana", "ana", "203.0.113.8", START),
        (Kind.SIGN_OUT, "ana", "ana", "203.0.113.7", START + timedelta(minutes=1)),
        (Kind.SESSION_EXPIRED, None, "ana", "198.51.100.2", START + timedelta(minutes=30)),
        (Kind.SIGN_IN_FAILED, None, "ana", "198.51.100.2", later),
    ]
    assert rows[3].details["reason"] == "idle"
    assert rows[4].details == {"reason": "revoked", "via": "console", "token_id": ana.token_id}
    dump = table_text(db_engine)
    for secret in (token, left, idle):
        assert secret not in dump and hash_token(secret) not in dump


def documented_grants(role: str) -> list[str]:
    """The statements docs/security.md gives for an append-only log, for ``role``."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    section = doc.split("**Append-only in production (PostgreSQL)**", 1)[1]
    block = section.split("```sql\n", 1)[1].split("```", 1)[0]
    lines = [line.split("--", 1)[0] for line in block.splitlines()]
    statements = " ".join(lines).replace("tierflow_app", role).split(";")
    return [s.strip() for s in statements if s.strip()]


@pytest.mark.postgres
def test_the_documented_grants_let_the_application_only_read_and_append(
    postgres_server: PostgresServer, migrated_postgres: str
) -> None:
    suffix = uuid.uuid4().hex[:12]
    url = postgres_server.create_database(f"t_{suffix}", template=migrated_postgres)
    role = f"app_{suffix}"
    owner = make_engine(url)
    with owner.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        for statement in documented_grants(role):
            conn.execute(text(statement))
    app = make_engine(make_url(url).set(username=role).render_as_string(hide_password=False))
    try:
        create_user(app, "ana", Role.ADMIN, actor="cli:ops")  # other tables: as before
        issue_token(app, "ana", actor="cli:ops")
        record(app, Kind.SIGN_IN, actor="ana", subject="ana", address="203.0.113.7", now=START)
        assert len(read(app)) == 3
        for change in (
            "UPDATE security_event SET actor = 'someone'",
            "DELETE FROM security_event",
            "TRUNCATE security_event",
        ):
            with pytest.raises(ProgrammingError, match="permission denied"), app.begin() as conn:
                conn.execute(text(change))
        assert len(read(app)) == 3
    finally:
        app.dispose()
        owner.dispose()
