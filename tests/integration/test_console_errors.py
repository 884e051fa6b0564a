"""The console's error pages on the real app and database: an address that does not exist, a
method a page does not take, a query value it cannot read, a stale form. A browser gets a page
in the reader's language with the console's header, never the API's JSON; the API's own paths
keep answering JSON, and a signed-out visitor is still sent to sign in.
"""

from __future__ import annotations

import httpx

from tests.fixtures.console import Console, sign_in, signed_in
from tests.utils.api_helpers import asgi_client


def _page(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html"), response.text
    assert '<html lang="zh-CN"' in response.text
    return response.text


async def test_an_address_that_does_not_exist_is_a_page_in_chinese(console: Console) -> None:
    async with signed_in(console, "sup_city") as client:
        text = _page(await client.get("/console/reports"), 404)
        assert "没有这个页面。请检查网址，或返回待办。" in text
        title = text.split("<title>")[1].split("</title>")[0]  # what a tab or a reader says
        assert "未找到" in title and "404" not in title
        assert "退出" in text  # the console's header, with the signed-in user
        assert "没有这个文件。" in _page(await client.get("/console/static/nope.css"), 404)
        assert "工作台没有 xx 语言。" in _page(await client.get("/console/language/xx"), 404)
        english = await client.get("/console/reports", headers={"Accept-Language": "en"})
        assert english.status_code == 404 and "There is no such page." in english.text
        api = await client.get("/api/v1/nope")  # the API keeps its JSON
        assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


async def test_a_wrong_method_or_query_value_is_a_page_naming_the_problem(
    console: Console,
) -> None:
    async with signed_in(console, "cw_own") as client:
        assert "此页面不能这样使用" in _page(await client.delete("/console/"), 405)
        text = _page(await client.get("/console/", params={"include_closed": "maybe"}), 422)
        assert "include_closed：应为 true 或 false" in text
        api = await client.get("/api/v1/requests", params={"include_closed": "maybe"})
        assert api.status_code == 401 and api.headers["content-type"] == "application/json"


async def test_a_stale_form_says_so_in_chinese(console: Console) -> None:
    async with signed_in(console, "cw_own") as client:
        out = await client.post("/console/logout", data={"csrf_token": "0" * 64})
        text = _page(out, 403)
        assert "此表单属于另一次登录或已过期的页面（csrf_token）。请刷新页面后重试。" in text


async def test_a_signed_out_visitor_is_still_sent_to_sign_in(console: Console) -> None:
    async with asgi_client(console.app()) as client:
        out = await client.get("/console/requests/req-1")
        assert out.status_code == 303 and out.headers["location"].startswith("/console/login")
        missing = await client.get("/console/nope")
        assert "没有这个页面" in _page(missing, 404)
        signed = await sign_in(client, console.users.tokens["cw_own"])
        assert signed.status_code == 303
