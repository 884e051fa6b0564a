"""Which language the console speaks, on the real app and database: zh-CN unless the header
switch, the user's language setting or the browser's Accept-Language says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from api.console.language import COOKIE
from tests.fixtures.console import Console, sign_in, signed_in
from tests.utils.api_helpers import asgi_client
from tierflow.db.notification_models import NotificationPreference
from tierflow.db.seed import seed_directory
from tierflow.directory import Directory


async def test_chinese_by_default_english_by_header_setting_or_switch(console: Console) -> None:
    app = console.app()
    async with asgi_client(app) as client:
        login = await client.get("/console/login")
        assert '<html lang="zh-CN"' in login.text and "粘贴发给您的 API 令牌" in login.text
        assert login.headers["content-language"] == "zh-CN"
        english = await client.get("/console/login", headers={"Accept-Language": "en-GB,zh;q=0.5"})
        assert '<html lang="en"' in english.text and "Paste the API token" in english.text

        assert (await sign_in(client, console.users.tokens["cw_own"])).status_code == 303
        queue = await client.get("/console/", headers={"Accept-Language": "fr"})
        assert "待办" in queue.text and "按超时风险" in queue.text

        # the user's setting wins over the browser's header
        with Session(console.engine) as session:
            session.add(
                NotificationPreference(
                    user_id=console.users.ids["cw_own"],
                    locale="en",
                    updated_at=datetime.now(UTC),
                )
            )
            session.commit()
        queue = await client.get("/console/", headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en"' in queue.text and "by SLA risk" in queue.text

        # the switch in the header wins over both, and goes back to the page it was on
        switched = await client.get("/console/language/zh-CN", params={"next": "/console/?q=x"})
        assert switched.status_code == 303 and switched.headers["location"] == "/console/?q=x"
        assert f"{COOKIE}=zh-CN" in switched.headers["set-cookie"]
        queue = await client.get("/console/")
        assert '<html lang="zh-CN"' in queue.text and "按超时风险" in queue.text
        unknown = await client.get("/console/language/fr")
        assert unknown.status_code == 404
        away = await client.get("/console/language/en", params={"next": "https://evil.example/"})
        assert away.headers["location"] == "/console/"  # no open redirect


async def test_the_queue_is_headed_by_the_units_name(console: Console) -> None:
    """From the directory's institution table, the id in the name's title; the id alone while
    the table lacks it."""
    async with signed_in(console, "cw_own") as client:
        assert "<h1>待办：zj-330106-sme</h1>" in (await client.get("/console/")).text
        seed_directory(console.engine, Directory.load())
        named = '<span class="unit" title="zj-330106-sme">杭州市西湖区中小企业服务中心</span>'
        assert f"<h1>待办：{named}</h1>" in (await client.get("/console/")).text
    async with signed_in(console, "sup_city") as client:
        named = '<span class="unit" title="zj-330100-sme">杭州市中小企业服务中心</span>'
        assert f"<h1>本区域待办（{named}）</h1>" in (await client.get("/console/")).text
