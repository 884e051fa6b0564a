"""The console's sign-ins in the security audit log, through the real app and database: who
signed in and out from which address, sign-ins refused and why, an address locked out after
refused tokens (once, not each refused attempt after it), and a session found expired (once).
No token, session id or digest of either is ever in the table.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import Engine, text
from sqlmodel import Session

from tests.fixtures.console import START, Console, page_csrf, sign_in, signed_in
from tierflow.auth_store import TOKEN_PREFIX, hash_token, issue_token, list_tokens, revoke_token
from tierflow.db.auth_models import ApiUser, SecurityEvent
from tierflow.security_log import SecurityEventKind, read

Kind = SecurityEventKind
WEB = "127.0.0.1"  # the test client's address (httpx's ASGI transport)


def events(engine: Engine, *kinds: SecurityEventKind) -> list[SecurityEvent]:
    """The console's records (not the test users' creation), in the order written."""
    wanted = kinds or (set(Kind) - {Kind.USER_CREATED, Kind.TOKEN_ISSUED, Kind.TOKEN_REVOKED})
    found = [row for row in read(engine, limit=10_000) if row.kind in wanted]
    return sorted(found, key=lambda row: row.id or 0)


def from_address(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://api")


def assert_no_secrets(engine: Engine, *secrets: str) -> None:
    """Neither a secret, nor its digest, nor a token's listed prefix is in any column."""
    with engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM security_event")).all())
    for secret in secrets:
        assert secret not in dump and hash_token(secret) not in dump
        if secret.startswith(TOKEN_PREFIX):
            assert secret[: len(TOKEN_PREFIX) + 6] not in dump


async def test_sign_in_and_sign_out_are_recorded_with_the_user_and_address(
    console: Console,
) -> None:
    user = console.users.ids["cw_own"]
    async with signed_in(console, "cw_own") as client:
        session_id = client.cookies["tf_console"]
        console.clock.now += timedelta(minutes=5)
        out = await client.post("/console/logout", data={"csrf_token": await page_csrf(client)})
        assert out.status_code == 303
    signed, left = events(console.engine)
    assert (signed.kind, signed.actor, signed.subject, signed.address) == (
        Kind.SIGN_IN,
        user,
        user,
        WEB,
    )
    [token] = list_tokens(console.engine, user)
    assert signed.occurred_at == START
    assert signed.details == {"token_id": token.id, "via": "console"}
    assert (left.kind, left.actor, left.subject, left.address) == (Kind.SIGN_OUT, user, user, WEB)
    assert left.occurred_at == START + timedelta(minutes=5)
    assert_no_secrets(console.engine, console.users.tokens["cw_own"], session_id)


async def test_refused_sign_ins_say_why_and_whose_token_it_was(console: Console) -> None:
    user = console.users.ids["cw_own"]
    revoked = issue_token(console.engine, user, now=START)
    [_first, revoked_row] = list_tokens(console.engine, user)
    assert revoked_row.id is not None
    revoke_token(console.engine, revoked_row.id, START)
    expired = issue_token(console.engine, user, timedelta(hours=1), START - timedelta(hours=2))
    disabled_user = console.users.ids["cw_mate"]
    with Session(console.engine) as session:
        mate = session.get(ApiUser, disabled_user)
        assert mate is not None
        mate.disabled = True  # no command disables a user: as an operator would in SQL
        session.add(mate)
        session.commit()
    guess = "tf_" + "x" * 43
    async with from_address(console.app(), "198.51.100.2") as client:
        for token in (guess, revoked, expired, console.users.tokens["cw_mate"]):
            assert (await sign_in(client, token)).status_code == 401
    rows = events(console.engine)
    assert [(r.kind, r.actor, r.subject, r.address, r.details.get("reason")) for r in rows] == [
        (Kind.SIGN_IN_FAILED, None, None, "198.51.100.2", "unknown"),
        (Kind.SIGN_IN_FAILED, None, user, "198.51.100.2", "revoked"),
        (Kind.SIGN_IN_FAILED, None, user, "198.51.100.2", "expired"),
        (Kind.SIGN_IN_FAILED, None, disabled_user, "198.51.100.2", "disabled"),
    ]
    assert rows[0].details == {"reason": "unknown", "via": "console"}
    assert rows[1].details["token_id"] == revoked_row.id
    assert_no_secrets(console.engine, guess, revoked, expired, console.users.tokens["cw_mate"])


async def test_a_revoked_token_replayed_locks_its_address_out(console: Console) -> None:
    """A leaver posting an old token again and again fills the log no more than a guesser:
    refused tokens of every kind count, and once locked out none is recorded."""
    user = console.users.ids["cw_own"]
    old_token = issue_token(console.engine, user, now=START)
    [_first, row] = list_tokens(console.engine, user)
    assert row.id is not None
    revoke_token(console.engine, row.id, START)
    app = console.app(api_sign_in_failures=3, api_sign_in_failure_window_seconds=600)
    async with from_address(app, "198.51.100.9") as leaver:
        answers = [(await sign_in(leaver, old_token)).status_code for _ in range(20)]
    assert answers == [401] * 3 + [429] * 17
    assert [(r.kind, r.details.get("reason")) for r in events(console.engine)] == [
        (Kind.SIGN_IN_FAILED, "revoked"),
        (Kind.SIGN_IN_FAILED, "revoked"),
        (Kind.ADDRESS_LOCKED, None),
        (Kind.SIGN_IN_FAILED, "revoked"),
    ]


async def test_an_address_locked_out_is_recorded_once(console: Console) -> None:
    app = console.app(api_sign_in_failures=3, api_sign_in_failure_window_seconds=600)
    guesses = [f"tf_guess-{n}-" + "y" * 30 for n in range(6)]
    async with from_address(app, "203.0.113.7") as guesser, from_address(app, "192.0.2.1") as other:
        answers = [(await sign_in(guesser, guess)).status_code for guess in guesses[:5]]
        assert answers == [401, 401, 401, 429, 429]
        # locked out, refused tokens are recorded no more; a good token still signs in (a
        # colleague behind the same address)
        assert (await sign_in(guesser, console.users.tokens["admin"])).status_code == 303
        assert (await sign_in(other, console.users.tokens["admin"])).status_code == 303
    rows = events(console.engine)
    assert [(r.kind, r.address) for r in rows] == [
        (Kind.SIGN_IN_FAILED, "203.0.113.7"),
        (Kind.SIGN_IN_FAILED, "203.0.113.7"),
        (Kind.ADDRESS_LOCKED, "203.0.113.7"),  # the third unknown token locked it
        (Kind.SIGN_IN_FAILED, "203.0.113.7"),
        (Kind.SIGN_IN, "203.0.113.7"),
        (Kind.SIGN_IN, "192.0.2.1"),
    ]
    locked = rows[2]
    assert (locked.actor, locked.subject, locked.occurred_at) == (None, None, START)
    assert locked.details["failures"] == 3 and locked.details["window_seconds"] == 600
    assert 1 <= locked.details["retry_after_seconds"] <= 600
    assert_no_secrets(console.engine, *guesses, console.users.tokens["admin"])


async def test_an_idle_session_is_recorded_expired_once_when_found(console: Console) -> None:
    user = console.users.ids["cw_own"]
    async with signed_in(console, "cw_own") as client:
        console.clock.now += timedelta(minutes=10)
        assert (await client.get("/console/")).status_code == 200
        console.clock.now += timedelta(hours=2)
        assert (await client.get("/console/")).status_code == 303  # idle since 09:10
        assert (await client.get("/console/login")).status_code == 200  # the cookie is sent on
        assert (await client.get("/console/")).status_code == 303
        session_id = client.cookies["tf_console"]
    signed, expired = events(console.engine)
    assert signed.kind is Kind.SIGN_IN
    assert (expired.kind, expired.actor, expired.subject, expired.address) == (
        Kind.SESSION_EXPIRED,
        None,
        user,
        WEB,
    )
    assert expired.occurred_at == START + timedelta(minutes=40)  # last page + 30 idle minutes
    assert expired.details["reason"] == "idle"
    assert expired.details["noticed_at"] == "2026-12-01T11:10:00+00:00"
    assert_no_secrets(console.engine, session_id)


async def test_a_session_past_its_absolute_end_is_recorded_so(console: Console) -> None:
    async with signed_in(console, "cw_own", console_session_max_hours=1) as client:
        for _ in range(3):
            console.clock.now += timedelta(minutes=20)
            await client.get("/console/")
    [expired] = events(console.engine, Kind.SESSION_EXPIRED)
    assert expired.occurred_at == START + timedelta(hours=1)
    assert expired.details["reason"] == "absolute"


async def test_the_apis_lockout_is_recorded_but_not_each_refused_call(console: Console) -> None:
    app = console.app(api_sign_in_failures=2)
    wrong = {"Authorization": "Bearer tf_guessed-wrong"}
    async with from_address(app, "203.0.113.9") as script:
        answers = [
            (await script.get("/api/v1/requests", headers=wrong)).status_code for _ in "abcd"
        ]
    assert answers == [401, 401, 429, 429]
    [locked] = events(console.engine)
    assert (locked.kind, locked.actor, locked.address) == (Kind.ADDRESS_LOCKED, None, "203.0.113.9")
    assert locked.details["failures"] == 2
