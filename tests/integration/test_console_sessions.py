"""Console sessions on the real app and database: server-side, short-lived, revoked on sign-out.

The cookie holds a random session id (never the API token); the database holds its digest,
user, token and times. Time comes from the app's injected clock, so expiry needs no sleeping.
The CSRF secret comes from settings, so two replicas with one secret accept each other's forms.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from api.app import create_app
from tests.fixtures.console import START, Console, page_csrf, sign_in, signed_in
from tests.utils.api_helpers import asgi_client, serve_in_thread
from tierflow.auth_store import hash_token, issue_token, revoke_tokens
from tierflow.db.auth_models import ConsoleSession
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port


def rows(engine: Engine) -> list[ConsoleSession]:
    with Session(engine) as session:
        return list(session.exec(select(ConsoleSession)).all())


async def test_the_cookie_holds_an_opaque_session_id_and_the_database_its_digest(
    console: Console,
) -> None:
    token = console.users.tokens["cw_own"]
    async with asgi_client(console.app()) as client:
        signed = await sign_in(client, token)
        assert signed.status_code == 303 and signed.headers["location"] == "/console/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain HTTP, no setting
        session_id = client.cookies["tf_console"]
        assert token not in cookie and session_id != token and len(session_id) >= 43
        assert (await client.get("/console/")).status_code == 200

    [row] = rows(console.engine)
    assert row.id_hash == hash_token(session_id) and session_id not in row.model_dump_json()
    assert row.user_id == console.users.ids["cw_own"]
    assert (row.created_at, row.last_seen_at) == (START, START)
    assert row.expires_at == START + timedelta(hours=12) and row.revoked_at is None


async def test_secure_cookies_behind_a_tls_proxy(console: Console) -> None:
    # TLS ends at the proxy: the request arrives over HTTP, the setting marks cookies Secure
    async with asgi_client(console.app(console_secure_cookies=True)) as client:
        page = await client.get("/console/login")
    assert (
        "tf_console_pre=" in page.headers["set-cookie"] and "Secure" in page.headers["set-cookie"]
    )
    # a request whose scheme is https (uvicorn trusting the proxy's X-Forwarded-Proto)
    https = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app()), base_url="https://api"
    )
    async with https as client:
        signed = await sign_in(client, console.users.tokens["cw_own"])
    assert signed.status_code == 303
    assert (
        "tf_console=" in signed.headers["set-cookie"] and "Secure" in signed.headers["set-cookie"]
    )


async def test_secure_cookies_when_a_trusted_proxy_says_https(console: Console) -> None:
    """Under real uvicorn, X-Forwarded-Proto counts from trusted proxies (127.0.0.1 here)."""
    lazy = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)  # never used
    app = create_app(Settings(database_url=console.url), lazy, console.engine)
    with serve_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            plain = await client.get("/console/login")
            proxied = await client.get("/console/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in plain.headers["set-cookie"]
    assert "Secure" in proxied.headers["set-cookie"]
    # served over TLS, the browser is told to keep to it (HSTS); not over plain HTTP
    assert "strict-transport-security" not in plain.headers
    assert proxied.headers["strict-transport-security"] == "max-age=31536000"


async def test_sign_out_revokes_the_session_server_side(console: Console) -> None:
    async with signed_in(console, "cw_own") as client:
        session_id = client.cookies["tf_console"]
        stolen = httpx.Cookies(client.cookies)
        out = await client.post("/console/logout", data={"csrf_token": await page_csrf(client)})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
    [row] = rows(console.engine)
    assert row.revoked_at == START
    # a copy of the cookie taken before signing out no longer opens anything
    async with asgi_client(console.app()) as thief:
        thief.cookies = stolen
        assert thief.cookies["tf_console"] == session_id
        r = await thief.get("/console/")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")


@pytest.mark.parametrize(
    ("settings", "step", "steps", "alive"),
    [
        ({}, timedelta(minutes=29), 3, True),  # pages within the idle time keep it going
        ({}, timedelta(minutes=30), 1, False),  # idle for 30 minutes: over
        ({"console_session_idle_minutes": 5}, timedelta(minutes=5), 1, False),
        ({}, timedelta(minutes=20), 36, False),  # busy, but 12 h after sign-in: over
        ({"console_session_max_hours": 1}, timedelta(minutes=20), 3, False),
    ],
)
async def test_sessions_end_when_idle_and_at_their_absolute_expiry(
    console: Console, settings: dict[str, float], step: timedelta, steps: int, alive: bool
) -> None:
    async with signed_in(console, "cw_own", **settings) as client:
        answers = []
        for _ in range(steps):
            console.clock.now += step
            answers.append((await client.get("/console/")).status_code)
    assert answers[:-1] == [200] * (steps - 1)
    assert answers[-1] == (200 if alive else 303)


async def test_revoking_the_token_ends_its_sessions(console: Console) -> None:
    async with signed_in(console, "cw_own") as client:
        assert (await client.get("/console/")).status_code == 200
        revoke_tokens(console.engine, console.users.ids["cw_own"])
        assert (await client.get("/console/")).status_code == 303


async def test_a_session_ends_with_its_token_expiry(console: Console) -> None:
    token = issue_token(console.engine, console.users.ids["cw_own"], timedelta(hours=1), START)
    async with asgi_client(console.app(console_session_idle_minutes=120)) as client:
        await sign_in(client, token)
        console.clock.now += timedelta(minutes=59)
        assert (await client.get("/console/")).status_code == 200
        console.clock.now += timedelta(minutes=1)
        assert (await client.get("/console/")).status_code == 303


async def test_sign_in_says_why_a_token_is_refused(console: Console) -> None:
    revoke_tokens(console.engine, console.users.ids["cw_other"])
    async with asgi_client(console.app()) as client:
        refused = await sign_in(client, console.users.tokens["cw_other"])
        unknown = await sign_in(client, "tf_nothing")
    assert refused.status_code == 401
    assert re.search(r"令牌 tf_[\w-]{6}… 已于 \d{4}-\d\d-\d\dT[\d:]{8}Z 吊销", refused.text)
    assert unknown.status_code == 401 and "令牌无效：没有签发过这个令牌" in unknown.text
    assert rows(console.engine) == []


@pytest.mark.parametrize(("secret_b", "accepted"), [("shared-secret-1", True), ("other", False)])
async def test_two_replicas_share_the_csrf_secret_from_settings(
    console: Console, secret_b: str, accepted: bool
) -> None:
    replica_a = console.app(csrf_secret=SecretStr("shared-secret-1"))
    replica_b = console.app(csrf_secret=SecretStr(secret_b))
    async with asgi_client(replica_a) as a:
        await sign_in(a, console.users.tokens["cw_own"])
        csrf = await page_csrf(a)  # the form as replica A rendered it
        cookies = httpx.Cookies(a.cookies)
    async with asgi_client(replica_b) as b:  # the load balancer sends the POST to B
        b.cookies = cookies
        out = await b.post("/console/logout", data={"csrf_token": csrf})
    if accepted:
        assert out.status_code == 303 and rows(console.engine)[0].revoked_at is not None
    else:
        assert out.status_code == 403 and "csrf_token" in out.text
        assert rows(console.engine)[0].revoked_at is None


async def _form_of_a_sent_to_b(console: Console, a: dict[str, str], b: dict[str, str]) -> int:
    """A form rendered by a replica of settings ``a``, posted to one of settings ``b``."""
    secrets_a = {name: SecretStr(value) for name, value in a.items()}
    secrets_b = {name: SecretStr(value) for name, value in b.items()}
    async with asgi_client(console.app(**secrets_a)) as first:
        await sign_in(first, console.users.tokens["cw_own"])
        csrf = await page_csrf(first)
        cookies = httpx.Cookies(first.cookies)
    async with asgi_client(console.app(**secrets_b)) as second:
        second.cookies = cookies
        return (await second.post("/console/logout", data={"csrf_token": csrf})).status_code


async def test_the_csrf_secret_is_rotated_without_refusing_a_form(console: Console) -> None:
    """Phase 1: every replica accepts the new key's tokens (issuing the old key's); phase 2:
    replicas move to the new key one by one, accepting the old key's; at each step a form from
    one replica is taken by the other. Without the accepted keys it is refused (403)."""
    old, new = {"csrf_secret": "old-key"}, {"csrf_secret": "new-key"}
    phase_1 = old | {"csrf_accepted_secrets": "new-key"}
    phase_2 = new | {"csrf_accepted_secrets": "old-key"}
    assert await _form_of_a_sent_to_b(console, old, phase_1) == 303
    assert await _form_of_a_sent_to_b(console, phase_2, phase_1) == 303  # new to one not moved
    assert await _form_of_a_sent_to_b(console, phase_1, phase_2) == 303
    assert await _form_of_a_sent_to_b(console, phase_2, new) == 303  # phase 3: old key gone
    assert await _form_of_a_sent_to_b(console, new, old) == 403  # no rotation: refused


async def test_a_form_sent_after_the_session_ended_comes_back_to_its_page(
    console: Console,
) -> None:
    """Signing in again after a form was refused for an ended session leads to the page the
    form was on (the case, the walk-in form), not to the form's own address, which answers
    no page (a 405 after signing in)."""
    async with signed_in(console, "cw_own") as client:
        csrf = await page_csrf(client)
        console.clock.now += timedelta(minutes=30)  # idle for the whole idle time: over
        sent = {
            "/console/requests/req-late-1/actions/resolve": "/console/requests/req-late-1",
            "/console/submit": "/console/submit",
            "/console/inbox/read": "/console/inbox",
        }
        for address, page in sent.items():
            r = await client.post(address, data={"csrf_token": csrf, "text": "已办结"})
            assert r.status_code == 303, (address, r.text)
            assert r.headers["location"] == f"/console/login?next={quote(page, safe='')}"


async def test_keeping_working_renews_the_session_and_an_ended_one_is_not_revived(
    console: Console,
) -> None:
    """The idle warning's "keep working" (GET /console/session/keepalive) counts the idle
    time from then; after the session ended it sends the browser to sign in instead."""
    async with signed_in(console, "cw_own") as client:
        console.clock.now += timedelta(minutes=29)
        kept = await client.get("/console/session/keepalive")
        assert kept.status_code == 204 and kept.content == b""
        console.clock.now += timedelta(minutes=29)  # 58 minutes after the last page
        assert (await client.get("/console/")).status_code == 200
        console.clock.now += timedelta(minutes=30)
        ended = await client.get("/console/session/keepalive")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/console/login")
