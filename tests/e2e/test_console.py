"""The caseworker console end to end: real app, real stack, headless Chromium.

Walk-in submit (with an inline USCC error), acknowledge, a stale form refused inline (409),
request information, resolve; the queue's live countdowns and filters; an SLA breach that
escalates and shows up for the city supervisor; the basic action without JavaScript; CSRF,
cookie flags and object scope. The browser asks for Chinese (the default) or English
(``Accept-Language``); each test checks the words of its language. Screenshots (``<page>.png``
in Chinese, ``<page>.en.png`` in English) go to a temporary folder, or to docs/screenshots/
with ``make screenshots``.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from api import lookup
from api.console import routes
from api.deps import ApiContext
from schemas.domain import Priority, Role, SlaStatus
from schemas.lifecycle import ActionKind, RequestView
from schemas.request import Actor
from tests.e2e.conftest import Console
from tests.fixtures.stack import Stack
from tests.utils.factories import make_request
from tests.utils.stack_helpers import act, eventually, start_request
from tierflow.constants import workflow_id
from tierflow.db.models import ServiceRequest
from tierflow_dev.demo import make_uscc

# Where screenshots go: a temporary folder, or the one TIERFLOW_SCREENSHOTS names
# (`make screenshots` refreshes docs/screenshots/, which the README shows).
SCREENSHOTS = Path(
    os.environ.get("TIERFLOW_SCREENSHOTS") or Path(tempfile.gettempdir()) / "tierflow-screenshots"
)
VIEWPORT = {"width": 1360, "height": 900}
PORTAL = Actor(id="enterprise-portal", role=Role.SYSTEM, grants=["provide_info"])


# What each language calls the things the tests look for.
WORDS = {
    "zh-CN": {
        "token": "API 令牌",
        "sign_in": "登录",
        "sign_out": "退出",
        "uscc": "统一社会信用代码",
        "submit": "提交登记",
        "request_id": "工单编号",
        "subject": "诉求主题",
        "state": "状态：",
        "tier": "层级：",
        "municipal": "市级",
        "in_progress": "办理中",
        "breached": "✖ 超时",
        "breached_at": "超时",
        "left_by": "离开本级：上报上级",
        "escalated": "↑ 已上报 ×1",
        "overview": "总览",
        "county": "县级",
        "why_up": "响应超时",
    },
    "en": {
        "token": "API token",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "uscc": "Unified Social Credit Code",
        "submit": "Submit request",
        "request_id": "Request id",
        "subject": "Subject",
        "state": "State: ",
        "tier": "Tier: ",
        "municipal": "Municipal",
        "in_progress": "In progress",
        "breached": "✖ SLA breached",
        "breached_at": "SLA breached at",
        "left_by": "left by: Escalated",
        "escalated": "↑ escalated ×1",
        "overview": "Overview",
        "county": "County",
        "why_up": "Response deadline missed",
    },
}
LOCALE = {"zh-CN": "zh-CN", "en": "en-US"}  # the browser's locale: its Accept-Language


def shot(name: str, locale: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / (f"{name}.png" if locale == "zh-CN" else f"{name}.{locale}.png"))


async def signed_in(
    browser: Browser, console: Console, who: str, locale: str = "zh-CN", **kw: object
) -> Page:
    """Open a fresh browser context in ``locale`` and sign in through the form."""
    context: BrowserContext = await browser.new_context(
        viewport=VIEWPORT,
        locale=LOCALE[locale],
        **kw,  # type: ignore[arg-type]
    )
    page = await context.new_page()
    await page.goto(f"{console.url}/console/")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await expect(page.locator("html")).to_have_attribute("lang", locale)
    await page.get_by_label(WORDS[locale]["token"]).fill(console.users.tokens[who])
    await page.get_by_role("button", name=WORDS[locale]["sign_in"]).click()
    await expect(page).to_have_url(f"{console.url}/console/")
    return page


async def fill_walk_in(page: Page, uscc: str, subject: str, priority: str = "normal") -> None:
    await page.locator("#f-enterprise-uscc").fill(uscc)
    await page.locator("#f-enterprise-name").fill("杭州启明智能科技有限公司")
    await page.locator("#f-enterprise-division_code").fill("330106")
    await page.locator("#f-category").select_option("financing")
    await page.locator("#f-priority").select_option(priority)
    await page.locator("#f-subject").fill(subject)
    await page.locator("#f-enterprise-contact_name").fill("王芳")
    await page.locator("#f-enterprise-contact_phone").fill("13800000000")


def read_row(stack: Stack, rid: str) -> ServiceRequest | None:
    with Session(stack.engine) as session:
        return session.get(ServiceRequest, rid)


async def submit_walk_in(page: Page, console: Console, subject: str, priority: str) -> str:
    """Submit a valid walk-in request through the form; return its request id."""
    await page.goto(f"{console.url}/console/submit")
    rid = await page.locator("#f-request_id").input_value()
    await fill_walk_in(page, make_uscc("330106", random.Random(rid)), subject, priority)
    await page.locator("button.primary[type=submit]").click()
    await page.wait_for_url(re.compile(r"/console/(requests/|\?submitted=)"))
    return rid


async def take(page: Page, kind: str, text: str | None = None) -> None:
    """Fill and submit one action form on the case page; wait for the page it leads to."""
    if await page.locator(f"summary#act-{kind}").count():  # a <details>: no script needed
        await page.locator(f"summary#act-{kind}").click()
    if text is not None:
        await page.locator(f"#t-{kind}").fill(text)
    async with page.expect_navigation():
        await page.locator(f"button[data-action='{kind}']").click()


def spy_on_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests whose live workflow the console queries from now on, in order."""
    queried: list[str] = []
    original = lookup.query_view

    async def spied(ctx: ApiContext, request_id: str) -> RequestView | None:
        queried.append(request_id)
        return await original(ctx, request_id)

    for module in (lookup, routes):  # wherever a page calls it from
        monkeypatch.setattr(module, "query_view", spied, raising=False)
    return queried


async def test_walk_in_acknowledge_request_info_resolve(
    browser: Browser,
    console: Console,
    stack: Stack,
    on_fast_queue: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # other work in the same queue: one that warns within seconds, one comfortably on track
    high = make_request(priority=Priority.HIGH)
    others = [high, make_request(priority=Priority.LOW)]
    await asyncio.gather(*(start_request(on_fast_queue, r) for r in others))
    page = await signed_in(browser, console, "cw_own")
    context = page.context

    # the session cookie: HttpOnly, SameSite=Strict, scoped to the console
    cookie = next(c for c in await context.cookies() if c["name"] == "tf_console")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/console")
    assert cookie["value"] != console.users.tokens["cw_own"]  # a session id, not the token

    # a bad USCC check character is shown inline, next to the field; other input is kept
    await page.goto(f"{console.url}/console/submit")
    rid = await page.get_by_label("工单编号").input_value()
    good = make_uscc("330106", random.Random(rid))
    bad = good[:17] + ("X" if good[17] != "X" else "Y")
    await fill_walk_in(page, bad, "流动资金贷款对接")
    async with page.expect_navigation() as nav:
        await page.get_by_role("button", name="提交登记").click()
    assert (await nav.value).status == 422
    summary = page.locator("#submit-error")
    await expect(summary.locator("p")).to_have_text("✖ 有 1 项需要修改")
    await expect(summary).to_be_focused()  # what went wrong is read first, and links to it
    assert (await page.title()).startswith("错误：")
    await summary.get_by_role("link").click()
    await expect(page.get_by_label("统一社会信用代码")).to_be_focused()
    uscc = page.get_by_label("统一社会信用代码")
    await expect(uscc).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-enterprise-uscc")).to_have_text(
        f"✖ 第 18 位校验码为 '{bad[17]}'，应为 '{good[17]}'"
    )
    await expect(page.get_by_label("诉求主题")).to_have_value("流动资金贷款对接")

    # fixed, it is accepted, routed to the caseworker's institution, and opens the case
    queried = spy_on_queries(monkeypatch)
    await uscc.fill(good)
    await page.get_by_role("button", name="提交登记").click()
    await expect(page).to_have_url(f"{console.url}/console/requests/{rid}?done=submit")
    # the submission waited for the routing on the read model: the only query of the new
    # workflow is the case page's, once it is routed (a query while it is admitted forces
    # the SDK to complete the task early)
    assert queried == [rid]
    await expect(page.locator(".case-meta .state")).to_have_text("状态：已派单待签收")
    tier = page.locator(".case-meta .tier")
    await expect(tier).to_have_text("层级：县级（杭州市西湖区中小企业服务中心）")
    await expect(tier.locator(".unit")).to_have_attribute("title", "zj-330106-sme")
    temporal_ui = re.compile("在 Temporal 界面中打开")
    await expect(page.get_by_role("link", name=temporal_ui)).to_have_count(0)  # operators' tool
    operator = await signed_in(browser, console, "admin")
    await operator.goto(f"{console.url}/console/requests/{rid}")
    host = console.settings.temporal_address.rsplit(":", 1)[0]
    await expect(operator.get_by_role("link", name=temporal_ui)).to_have_attribute(
        "href",
        f"http://{host}:{console.settings.temporal_ui_port}/namespaces/"
        f"{console.settings.temporal_namespace}/workflows/{quote(workflow_id(rid), safe='')}",
    )
    await operator.context.close()

    # the same case open in a second tab goes stale once the first acknowledges it
    stale = await context.new_page()
    await stale.goto(page.url)
    await take(page, "acknowledge")
    await expect(page.locator(".case-meta .state")).to_have_text("状态：已受理")
    await expect(page.locator("#done")).to_have_text("✓ 已完成：受理。")
    await expect(page.locator("#act-acknowledge")).to_have_count(0)  # no longer allowed
    async with stale.expect_navigation() as nav:
        await stale.locator("button[data-action='acknowledge']").click()
    assert (await nav.value).status == 409
    # the refusal names its action: no "未能受理：" heading before it says so again
    await expect(stale.locator("#action-error")).to_have_text(
        re.compile(r"^\s*✖\s*工单当前状态为「已受理」，不能执行「受理」（可在以下状态执行：")
    )
    await expect(stale.locator("#act-acknowledge")).to_have_count(0)  # the fresh page
    await stale.close()

    # request information: the clocks pause
    await take(page, "request_info", "请提供近三年经审计的财务报表")
    await expect(page.locator(".case-meta .state")).to_have_text("状态：待企业补充")
    await expect(page.locator(".case-meta .badge")).to_have_text("‖ 暂停计时")

    # the queue: paused and warning rows say so in text; countdowns tick; filters work
    await eventually(
        lambda: (r := read_row(stack, high.request_id)) and r.sla_status is SlaStatus.WARNING,
        what="the high-priority request in warning",
    )
    await page.goto(f"{console.url}/console/")
    mine = page.locator("tr", has=page.locator(f"a[href='/console/requests/{rid}']"))
    await expect(mine.locator(".badge")).to_have_text("‖ 暂停计时")
    await expect(mine.locator(".countdown")).to_have_text("暂停计时")
    await expect(mine.locator("td").nth(4)).to_have_text("待企业补充")
    await expect(mine.locator("td").nth(5)).to_have_text("投融资服务")
    warning = page.locator("tr.row-warning").first
    await expect(warning.locator(".badge")).to_have_text("⚠ 预警")
    ticking = warning.locator("time[data-due]")
    first = await ticking.inner_text()
    assert re.fullmatch(r"剩余 \d+ 分 \d+ 秒", first), first  # business time, live
    await expect(ticking).not_to_have_text(first, timeout=3000)  # the script updates it
    await expect(ticking).to_have_text(re.compile(r"^剩余 \d+ 分 \d+ 秒$"))
    await page.screenshot(path=shot("queue", "zh-CN"), full_page=True)
    await page.get_by_label("时限状态").select_option("paused")
    await page.get_by_role("button", name="搜索", exact=True).click()
    await expect(page).to_have_url(re.compile(r"sla_status=paused"))
    await expect(mine).to_have_count(1)
    await expect(page.locator("tr.row-warning")).to_have_count(0)

    # the enterprise answers through the portal; the caseworker resolves
    await act(
        stack.client.get_workflow_handle(workflow_id(rid)),
        ActionKind.PROVIDE_INFO,
        PORTAL,
        text="已上传审计报告",
    )
    await page.goto(f"{console.url}/console/requests/{rid}")
    await expect(page.locator(".case-meta .state")).to_have_text("状态：办理中")
    await take(page, "resolve", "已对接杭州银行科技支行，授信500万元")
    await expect(page.locator(".case-meta .state")).to_have_text("状态：已办结")
    events = page.locator(".timeline .ev-type")
    await expect(events.first).to_have_text("办结")
    shown = await events.all_inner_texts()
    for event in ("企业补充材料", "请企业补充材料", "受理", "派单", "提交"):
        assert shown.count(event) == 1, shown
    await expect(page.locator(".bar-notes")).to_contain_text("暂停计时（等待企业补充）")
    row = read_row(stack, rid)
    assert row is not None and row.channel == "walk-in" and row.state.value == "resolved"

    # a form without the session's CSRF token is refused, and nothing happens
    forged = await context.request.post(
        f"{console.url}/console/requests/{rid}/actions/reopen",
        form={"csrf_token": "0" * 64, "idempotency_key": "forged-1", "text": "x"},
    )
    assert forged.status == 403 and "csrf_token" in await forged.text()
    assert read_row(stack, rid).state.value == "resolved"  # type: ignore[union-attr]

    # another county's caseworker cannot see it (the API's object scope: 404)
    other = await signed_in(browser, console, "cw_other")
    response = await other.goto(f"{console.url}/console/requests/{rid}")
    assert response is not None and response.status == 404
    scope = f"找不到工单 '{rid}'（或不在您的办理范围内）"  # the same answer as for no request
    await expect(other.get_by_role("alert")).to_contain_text(scope)
    await other.context.close()

    # signing out ends the session
    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(f"{console.url}/console/login")
    await page.goto(f"{console.url}/console/")
    await expect(page).to_have_url(re.compile(r"/console/login"))
    await context.close()


async def test_acknowledge_works_without_javascript(
    browser: Browser, console: Console, on_fast_queue: SimpleNamespace
) -> None:
    req = make_request()
    await start_request(on_fast_queue, req)
    rid = req.request_id
    page = await signed_in(browser, console, "cw_own", "en", java_script_enabled=False)
    await page.goto(f"{console.url}/console/")
    # keyboard first: the skip link is the first stop and moves focus to the main landmark
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{console.url}/console/#main")
    row = page.locator("tr", has=page.locator(f"a[href$='{rid}']"))
    countdown = row.locator("time[data-due]")
    static = await countdown.inner_text()
    assert re.fullmatch(r"\d+ h \d+ min left", static), static  # rendered by the server
    await row.get_by_role("link").focus()
    # the case page asks Temporal for the request's view: on a loaded machine that can take
    # longer than an assertion's default 5 s, which is not what this test is about
    async with page.expect_navigation(timeout=20_000):
        await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{console.url}/console/requests/{rid}")
    await page.locator("button[data-action='acknowledge']").focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.locator(".case-meta .state")).to_have_text("State: Accepted")
    await expect(page.locator("#done")).to_have_text("✓ Accept done.")
    await page.context.close()


async def test_a_walk_in_for_an_enterprise_elsewhere_names_the_unit_it_went_to(
    browser: Browser, console: Console, on_fast_queue: SimpleNamespace
) -> None:
    """An enterprise of 330105 walks in at 330106's window: the request goes to its own
    county's unit, and the caseworker is told which one (it leaves their sight)."""
    page = await signed_in(browser, console, "cw_own")
    await page.goto(f"{console.url}/console/submit")
    rid = await page.locator("#f-request_id").input_value()
    await fill_walk_in(page, make_uscc("330105", random.Random(rid)), "跨区窗口登记")
    await page.locator("#f-enterprise-division_code").fill("330105")
    await page.locator("button.primary[type=submit]").click()
    await page.wait_for_url(re.compile(r"/console/\?submitted="))
    notice = page.locator("[role=status]", has_text=rid)
    await expect(notice).to_contain_text("已转由 杭州市拱墅区中小企业服务中心 办理")
    await expect(notice.locator(".unit")).to_have_attribute("title", "zj-330105-sme")
    await page.context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_sla_breach_escalates_and_the_supervisor_sees_it(
    browser: Browser, console: Console, stack: Stack, locale: str
) -> None:
    words = WORDS[locale]
    caseworker = await signed_in(browser, console, "cw_own", locale)
    rid = await submit_walk_in(caseworker, console, "出口认证紧急咨询", "urgent")
    await caseworker.context.close()

    supervisor = await signed_in(browser, console, "sup_city", locale)
    case_url = f"{console.url}/console/requests/{rid}"

    async def escalated() -> bool:
        await supervisor.goto(case_url)
        return await supervisor.locator(".timeline .ev-escalated").count() > 0

    await eventually(escalated, timeout=30, what="the breach escalation on the case page")
    # the engine's reason (sla_breach:response in the trail) in the reader's words
    await expect(supervisor.locator(".ev-escalated .ev-reason")).to_have_text(words["why_up"])
    await expect(supervisor.locator(".timeline .ev-sla_breached .ev-type")).to_have_text(
        words["breached"]
    )
    await expect(supervisor.locator(".case-meta")).to_contain_text(
        words["tier"] + words["municipal"]
    )
    county_bar = supervisor.locator(".bar-row.bar-county")
    await expect(county_bar.locator(".bar-label strong")).to_have_text(words["county"])
    await expect(county_bar.locator("rect.seg-breached")).to_have_count(1)
    await expect(county_bar.locator(".bar-notes")).to_contain_text(words["breached_at"])
    await expect(county_bar.locator(".bar-notes")).to_contain_text(words["left_by"])

    # the supervisor works it at the city tier: the city bar shows a pause
    await take(supervisor, "acknowledge")
    await take(supervisor, "request_info", "请补充出口目的国认证要求")
    await act(
        stack.client.get_workflow_handle(workflow_id(rid)),
        ActionKind.PROVIDE_INFO,
        PORTAL,
        text="目的国为德国，需CE认证",
    )
    await take(supervisor, "comment", "已联系省级认证服务机构")
    city_bar = supervisor.locator(".bar-row.bar-municipal")
    await expect(city_bar.locator("rect.seg-paused")).to_have_count(1)
    await expect(supervisor.locator(".case-meta .state")).to_have_text(
        words["state"] + words["in_progress"]
    )
    await supervisor.screenshot(path=shot("case", locale), full_page=True)

    # the region's queue and overview show the escalation
    await supervisor.goto(f"{console.url}/console/")
    row = supervisor.locator("tr", has=supervisor.locator(f"a[href='/console/requests/{rid}']"))
    await expect(row.locator(".tag")).to_have_text(words["escalated"])
    if locale == "en":  # the Chinese queue is shot by the caseworker's test
        await supervisor.screenshot(path=shot("queue", locale), full_page=True)
    await supervisor.get_by_role("link", name=words["overview"]).click()
    # the region and its units by name (the unit's id in the link's title)
    await expect(supervisor.locator("h1")).to_contain_text("杭州市")
    city = supervisor.locator("table.overview tr", has_text="杭州市中小企业服务中心")
    await expect(city.locator(".unit")).to_have_attribute("title", "zj-330100-sme")
    await expect(city).to_have_count(1)
    escalated_in = await city.locator("td").last.inner_text()
    assert int(escalated_in) >= 1
    await supervisor.screenshot(path=shot("overview", locale), full_page=True)

    # a caseworker may not open the overview
    caseworker = await signed_in(browser, console, "cw_city", locale)
    response = await caseworker.goto(f"{console.url}/console/overview")
    assert response is not None and response.status == 403
    await caseworker.context.close()
    await supervisor.context.close()
