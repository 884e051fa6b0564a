"""Input no page expects answers a page that says so, never a 500 or a false outage: a CSRF
token of other characters, a notification number that is no number, a day past the calendar.
The API app on a real SQLite read model (no Temporal: none of these reaches it)."""

from __future__ import annotations

import re

import httpx

from tests.fixtures.console import Console, page_csrf, sign_in, signed_in
from tests.utils.api_helpers import asgi_client

PRE_SIGN_IN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


async def test_a_csrf_token_of_other_characters_is_refused_not_a_crash(console: Console) -> None:
    async with asgi_client(console.app()) as client:
        assert (await client.get("/console/login")).status_code == 200  # the pre-sign-in cookie
        for token in ("é", "令牌", "x" * 64):
            form = {"csrf_token": token, "token": console.users.tokens["cw_own"]}
            answer = await client.post("/console/login", data=form)
            assert answer.status_code == 403, (token, answer.status_code)
    async with signed_in(console, "cw_own") as client:
        answer = await client.post("/console/logout", data={"csrf_token": "令牌"})
        assert answer.status_code == 403


async def test_a_notification_number_that_is_no_number_is_named(console: Console) -> None:
    async with signed_in(console, "cw_own") as client:
        csrf = await page_csrf(client)
        for raw in ("²", "99999999999999999999999", "-1"):
            answer = await client.post("/console/inbox/read", data={"csrf_token": csrf, "id": raw})
            assert answer.status_code == 422, (raw, answer.status_code)
            assert "通知编号" in answer.text or "notification number" in answer.text


async def test_days_past_the_calendar_read_as_no_day(console: Console) -> None:
    async with signed_in(console, "sup_city") as client:
        for since, until in (("", "9999-12-31"), ("0001-01-01", "0001-01-02")):
            params = {"since": since, "until": until}
            for page in ("/console/assessment", "/console/assessment.csv"):
                answer = await client.get(page, params=params)
                assert answer.status_code == 200, (page, params, answer.status_code)
        csrf = await page_csrf(client)
        form = {"csrf_token": csrf, "source": "version", "version": "x", "until": "9999-12-31"}
        answer = await client.post("/console/whatif", data=form)
        assert answer.status_code in (200, 422), answer.status_code  # the form, not a crash


async def test_reports_name_an_instant_past_the_calendar(console: Console) -> None:
    async with asgi_client(console.app()) as client:
        auth = console.users.auth("sup_city")
        for params, field in (
            ({"since": "0001-01-01T00:00:00+08:00"}, "since"),
            ({"until": "9999-12-31T23:59:59-08:00"}, "until"),
            ({"until": "0001-01-05T00:00:00+00:00"}, "until"),
        ):
            for report in ("assessment", "sla", "escalations"):
                answer = await client.get(f"/api/v1/reports/{report}", params=params, headers=auth)
                assert answer.status_code == 422, (report, params, answer.text)
                assert answer.json()["detail"][0]["field"] == field


async def test_downloads_are_kept_by_no_cache(console: Console) -> None:
    """Exports hold enterprises, contacts and subjects: a shared browser or proxy keeps none."""
    async with signed_in(console, "sup_city") as client:
        for url in ("/console/requests.csv", "/console/assessment.csv"):
            answer = await client.get(url)
            assert answer.status_code == 200, url
            assert answer.headers["cache-control"] == "no-store", url
            assert answer.headers["x-content-type-options"] == "nosniff", url
    async with asgi_client(console.app()) as client:
        answer = await client.get("/api/v1/requests.csv", headers=console.users.auth("sup_city"))
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"


async def test_a_caseworker_reads_refusals_in_chinese(console: Console) -> None:
    """The rate limit and a search too long, as the console shows them (the API's English
    stays for scripts)."""
    slow = {"api_actions_burst": 1, "api_actions_per_second": 0.001}
    async with signed_in(console, "cw_own", **slow) as client:
        csrf = await page_csrf(client)
        form = {"csrf_token": csrf, "text": "请尽快办理", "idempotency_key": "console-a1"}
        await client.post("/console/requests/req-none/actions/comment", data=form)
        form["idempotency_key"] = "console-a2"
        answer = await client.post("/console/requests/req-none/actions/comment", data=form)
        assert answer.status_code == 429, answer.status_code
        assert "操作过于频繁，请" in answer.text and "rate limit" not in answer.text
        searched = await client.get("/console/", params={"q": "数字化改造" * 30})
        assert "字节" in searched.text and "bytes in UTF-8" not in searched.text


async def test_a_body_too_large_is_a_page_in_chinese(console: Console) -> None:
    async with signed_in(console, "cw_own", api_max_body_bytes=2048) as client:
        csrf = await page_csrf(client)
        answer = await client.post("/console/submit", data={"csrf_token": csrf, "x": "长" * 4000})
        assert answer.status_code == 413
        assert answer.headers["content-type"].startswith("text/html")
        assert "请求内容超过 2048 字节" in answer.text
        assert answer.headers["x-frame-options"] == "DENY"
    async with asgi_client(console.app(api_max_body_bytes=2048)) as client:
        api = await client.post(
            "/api/v1/requests", content=b"{" * 4096, headers=console.users.auth("admin")
        )
        assert api.status_code == 413 and "larger than 2048 bytes" in api.json()["detail"]


async def test_a_fault_shows_the_consoles_page_not_a_bare_error(
    console: Console, monkeypatch
) -> None:
    """An unexpected error (here one put in the overview's query) answers 500 with the
    console's page, in Chinese, with its security headers; the API answers JSON."""

    def broken(*args: object) -> None:
        raise RuntimeError("a fault of ours")

    monkeypatch.setattr("api.console.routes.overview_rows", broken)
    transport = httpx.ASGITransport(app=console.app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert (await sign_in(client, console.users.tokens["sup_city"])).status_code == 303
        answer = await client.get("/console/overview")
        assert answer.status_code == 500
        assert "出了问题" in answer.text and "a fault of ours" not in answer.text
        assert answer.headers["content-security-policy"].startswith("default-src 'self'")
        assert answer.headers["cache-control"] == "no-store"


async def test_refusals_of_a_grant_or_an_entry_read_in_chinese(console: Console) -> None:
    async with signed_in(console, "cw_own") as client:
        csrf = await page_csrf(client)
        answer = await client.post("/console/inbox/read", data={"csrf_token": csrf, "id": "12345"})
        assert answer.status_code == 404 and "通知 12345 不在您的收件箱中" in answer.text
    async with asgi_client(console.app()) as client:
        refused = await client.get("/api/v1/reports/sla", headers=console.users.auth("cw_own"))
        assert refused.status_code == 403
        assert refused.json()["detail"].endswith("may not see reports")
