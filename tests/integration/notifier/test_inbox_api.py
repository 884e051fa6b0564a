"""The inbox and preferences through the API and the console, on the real app and database.

Each caller sees, counts and marks only their own inbox; the console shows the unread badge.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.console.inbox import INBOX_ROWS
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import Users, asgi_client, make_users
from tierflow.db.engine import make_engine
from tierflow.db.notification_models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationPreference,
)
from tierflow.settings import Settings

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def setup(sqlite_url: str) -> Iterator[tuple[Engine, Users, object]]:
    engine = make_engine(sqlite_url)
    users = make_users(engine)
    app = create_app(Settings(database_url=sqlite_url), None, engine, clock=lambda: NOW)
    try:
        yield engine, users, app
    finally:
        engine.dispose()


def badge(unread: int) -> str:
    """The navigation's unread count: the number shown, and words a screen reader reads."""
    shown = f'<span aria-hidden="true">{unread}</span>'
    return shown + f'<span class="visually-hidden">（{unread} 条未读）</span>'


def add_inbox(
    engine: Engine, user_id: str, n: int, subject: str, request_id: str = "req-1"
) -> list[int]:
    """``n`` inbox messages for the user about ``request_id`` (its events 1 to n)."""
    with Session(engine) as session:
        rows = [
            Notification(
                event_id=f"{request_id}:{i}",
                channel=Channel.INBOX,
                recipient=f"user:{user_id}",
                user_id=user_id,
                request_id=request_id,
                event_type="sla_warning",
                rule="sla_warning",
                subject=f"{subject} {i}",
                body="正文",
                status=DeliveryStatus.SENT,
                created_at=NOW,
                not_before=NOW,
                sent_at=NOW,
            )  # fmt: skip
            for i in range(n)
        ]
        session.add_all(rows)
        session.commit()
        return [r.id for r in rows if r.id is not None]


async def test_each_caller_lists_counts_and_marks_only_their_own_inbox(setup) -> None:  # noqa: ANN001
    engine, users, app = setup
    mine = add_inbox(engine, users.ids["cw_own"], 3, "【预警】我的")
    theirs = add_inbox(engine, users.ids["cw_other"], 1, "【预警】别人的")
    async with asgi_client(app) as client:
        auth = users.auth("cw_own")
        page = (await client.get("/api/v1/notifications", headers=auth)).json()
        assert [i["id"] for i in page["items"]] == sorted(mine, reverse=True)
        assert page["unread"] == 3
        assert (
            await client.post(f"/api/v1/notifications/{mine[0]}/read", headers=auth)
        ).json() == {"marked": 1}
        assert (
            await client.post(f"/api/v1/notifications/{mine[0]}/read", headers=auth)
        ).json() == {"marked": 0}
        refused = await client.post(f"/api/v1/notifications/{theirs[0]}/read", headers=auth)
        assert refused.status_code == 404
        assert refused.json()["detail"] == f"notification {theirs[0]}: not in your inbox"
        count = await client.get("/api/v1/notifications/unread-count", headers=auth)
        assert count.json() == {"unread": 2}
        unread = (await client.get("/api/v1/notifications?unread_only=true", headers=auth)).json()
        assert {i["id"] for i in unread["items"]} == set(mine[1:])
        assert (await client.post("/api/v1/notifications/read-all", headers=auth)).json() == {
            "marked": 2
        }
        other = await client.get(
            "/api/v1/notifications/unread-count", headers=users.auth("cw_other")
        )
        assert other.json() == {"unread": 1}
        assert (await client.get("/api/v1/notifications")).status_code == 401


async def test_preferences_are_validated_and_kept(setup) -> None:  # noqa: ANN001
    _, users, app = setup
    async with asgi_client(app) as client:
        auth = users.auth("cw_own")
        first = (await client.get("/api/v1/notifications/preferences", headers=auth)).json()
        assert first | {"user_id": ""} == {
            "user_id": "", "email": None, "phone": None, "locale": "zh-CN", "inbox": True,
            "email_enabled": True, "sms_enabled": False, "digest": False,
        }  # fmt: skip
        changed = await client.put(
            "/api/v1/notifications/preferences",
            headers=auth,
            json={"email": "wang.fang@zj-sme.example.cn", "digest": True, "locale": "en"},
        )
        assert changed.status_code == 200
        assert changed.json()["email"] == "wang.fang@zj-sme.example.cn"
        assert changed.json()["digest"] is True and changed.json()["inbox"] is True
        bad = await client.put(
            "/api/v1/notifications/preferences",
            headers=auth,
            json={"email": "not an address", "locale": "fr"},
        )
        assert bad.status_code == 422
        fields = {tuple(e["loc"])[-1] for e in bad.json()["detail"]}
        assert fields == {"email", "locale"}
        # texts go to a mobile number: kept in E.164, a landline refused naming the field
        landline = await client.put(
            "/api/v1/notifications/preferences", headers=auth, json={"phone": "0571-87654321"}
        )
        assert landline.status_code == 422 and "must be a mobile number" in landline.text
        mobile = await client.put(
            "/api/v1/notifications/preferences", headers=auth, json={"phone": "138 0000 0000"}
        )
        assert mobile.status_code == 200 and mobile.json()["phone"] == "+8613800000000"
        # a misspelt field is named, not dropped with a 200 that changed nothing
        misspelt = await client.put(
            "/api/v1/notifications/preferences", headers=auth, json={"sms_enable": True}
        )
        assert misspelt.status_code == 422
        assert [(e["field"], e["msg"]) for e in misspelt.json()["detail"]] == [
            ("sms_enable", "unknown field (misspelt?)")
        ]


async def test_the_console_shows_the_badge_the_inbox_and_marks_read(setup) -> None:  # noqa: ANN001
    engine, users, app = setup
    mine = add_inbox(engine, users.ids["cw_own"], 2, "【超时】工单")
    async with asgi_client(app) as client:
        assert (await sign_in(client, users.tokens["cw_own"])).status_code == 303
        page = await client.get("/console/inbox")
        assert page.status_code == 200
        assert "通知" in page.text and "【超时】工单 1" in page.text
        assert badge(2) in page.text
        token = CSRF.search(page.text)[1]  # type: ignore[index]
        done = await client.post(
            "/console/inbox/read", data={"csrf_token": token, "id": str(mine[1])}
        )
        assert done.status_code == 303
        page = await client.get("/console/inbox")
        assert badge(1) in page.text
        forged = await client.post("/console/inbox/read", data={"csrf_token": "0" * 64})
        assert forged.status_code == 403
        prefs = await client.post(
            "/console/preferences",
            data={"csrf_token": token, "email": "bad", "email_enabled": "on", "locale": "zh-CN"},
        )
        assert (
            prefs.status_code == 422 and "须为一个电子邮箱地址，例如 name@example.org" in prefs.text
        )
        landline = {"csrf_token": token, "phone": "0571-87654321", "locale": "zh-CN"}
        prefs = await client.post("/console/preferences", data=landline)
        assert prefs.status_code == 422 and "应为手机号码，如 13800000000" in prefs.text
        assert "must be" not in prefs.text  # the reasons in the page's language
        saved = await client.post(
            "/console/preferences",
            data={
                "csrf_token": token,
                "email": "cw@zj.example.cn",
                "email_enabled": "on",
                "digest": "on",
                "locale": "zh-CN",
            },  # fmt: skip
        )
        assert saved.status_code == 303
        api = await client.get("/api/v1/notifications/preferences", headers=users.auth("cw_own"))
        assert api.json()["email"] == "cw@zj.example.cn" and api.json()["digest"] is True
        assert api.json()["inbox"] is False  # an unchecked box is off


async def test_a_landline_saved_before_is_flagged_on_the_preferences_page(setup) -> None:  # noqa: ANN001
    """Preferences took any number before they took mobiles only; texts cannot go to such a
    number (the notifier skips it), so the page says so beside it."""
    engine, users, app = setup
    with Session(engine) as session:
        saved = NotificationPreference(
            user_id=users.ids["cw_own"], phone="0571-87654321", updated_at=NOW
        )
        session.add(saved)
        session.commit()
    async with asgi_client(app) as client:
        assert (await sign_in(client, users.tokens["cw_own"])).status_code == 303
        page = await client.get("/console/preferences")
        assert "短信无法发送到此号码：请填写手机号码，例如 13800000000" in page.text
        token = CSRF.search(page.text)[1]  # type: ignore[index]
        fixed = {
            "csrf_token": token,
            "phone": "13800000000",
            "sms_enabled": "on",
            "locale": "zh-CN",
        }
        assert (await client.post("/console/preferences", data=fixed)).status_code == 303
        page = await client.get("/console/preferences")
        assert "短信无法发送到此号码" not in page.text and "+8613800000000" in page.text


async def test_the_console_inbox_pages_through_every_notification(setup) -> None:  # noqa: ANN001
    """More notifications than a page holds: the next page has the rest, none twice."""
    engine, users, app = setup
    add_inbox(engine, users.ids["cw_own"], INBOX_ROWS + 3, "【预警】工单")
    seen: list[str] = []
    async with asgi_client(app) as client:
        assert (await sign_in(client, users.tokens["cw_own"])).status_code == 303
        url: str | None = "/console/inbox"
        while url is not None:
            page = await client.get(url)
            assert page.status_code == 200, page.text
            seen += re.findall(r">【预警】工单 (\d+)</a>", page.text)
            found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert "第 2 页" in page.text and 'rel="prev"' in page.text
    assert sorted(int(n) for n in seen) == list(range(INBOX_ROWS + 3))


async def test_the_badge_counts_to_99_and_the_api_counts_them_all(setup) -> None:  # noqa: ANN001
    """The badge is on every page: it stops counting past 99 (a supervisor may have tens of
    thousands unread); the API's count stays exact."""
    engine, users, app = setup
    add_inbox(engine, users.ids["cw_own"], 99, "【预警】工单")
    async with asgi_client(app) as client:
        assert (await sign_in(client, users.tokens["cw_own"])).status_code == 303
        assert badge(99) in (await client.get("/console/inbox")).text
        add_inbox(engine, users.ids["cw_own"], 2, "【预警】另一工单", request_id="req-2")
        page = (await client.get("/console/inbox")).text
        assert '<span aria-hidden="true">99+</span>' in page and "（超过 99 条未读）" in page
        counted = await client.get(
            "/api/v1/notifications/unread-count", headers=users.auth("cw_own")
        )
    assert counted.json()["unread"] == 101
