"""协办 and 督办 in the console, end to end: real app, real stack, headless Chromium.

The holding unit signs for a request and adds a co-handling unit for a part; the city's
supervisor supervises it; the unit replies in writing from the case page; the co-handling
unit finds the request in its queue marked 协办, is offered only its part's steps, signs for
its part and concludes it; only then is the holding unit offered 办结. Each step shows in
the case page's 工单事项 card.
"""

from __future__ import annotations

from types import SimpleNamespace

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import Console
from tests.e2e.test_console import shot, signed_in, take
from tests.utils.factories import make_request
from tests.utils.stack_helpers import start_request

CO_HANDLER = "zj-330105-sme"  # cw_other's unit


async def open_case(page: Page, console: Console, rid: str) -> None:
    await page.goto(f"{console.url}/console/requests/{rid}")


async def offered(page: Page) -> list[str]:
    """The actions the case page offers, by kind."""
    return await page.locator("#actions-title ~ * button[data-action]").evaluate_all(
        "buttons => buttons.map(b => b.dataset.action)"
    )


async def test_co_handling_and_supervision_from_the_case_page(
    browser: Browser, console: Console, on_fast_queue: SimpleNamespace
) -> None:
    req = make_request()  # held by cw_own's unit, zj-330106-sme
    rid = req.request_id
    await start_request(on_fast_queue, req)

    holder = await signed_in(browser, console, "cw_own")
    await open_case(holder, console, rid)
    await take(holder, "sign_for")
    await take(holder, "acknowledge")
    assert "resolve" in await offered(holder)  # 办结 is offered until a part is open
    await holder.locator("summary#act-add_co_handler").click()
    await holder.locator("#t-add_co_handler").fill("出口认证部分")
    await holder.locator("#d-add_co_handler").fill("3")
    await holder.locator("#i-add_co_handler").fill("zj-999999-sme")  # no such unit
    async with holder.expect_navigation():
        await holder.locator("button[data-action='add_co_handler']").click()
    # the refusal is read first, the field it is about is marked and points at it
    await expect(holder.locator("#action-error")).to_be_focused()
    unit_field = holder.locator("#i-add_co_handler")
    await expect(unit_field).to_have_attribute("aria-invalid", "true")
    await expect(unit_field).to_have_attribute("aria-describedby", "refusal-add_co_handler")
    await holder.locator("#action-error").get_by_role("link", name="转到填写处").click()
    await unit_field.fill(CO_HANDLER)
    async with holder.expect_navigation():
        await holder.locator("button[data-action='add_co_handler']").click()
    await expect(holder.locator("#done")).to_have_text("✓ 已完成：增加协办单位。")
    await expect(holder.locator(".case-meta .handler")).to_have_text(
        f"承办人：{console.users.ids['cw_own']}"
    )
    part = holder.locator("#parts tbody tr")
    await expect(part).to_have_count(1)
    await expect(part).to_contain_text(CO_HANDLER)
    await expect(part).to_contain_text("出口认证部分")
    await expect(part.locator("td").nth(3)).to_have_text("待签收")
    # the holding unit's own steps: the part's are the co-handling unit's; 办结 waits for it
    assert not {"sign_for_part", "conclude_part", "resolve"} & set(await offered(holder))
    await expect(holder.locator("#resolve-waits")).to_have_text(
        "协办部分全部办结或经免除后，方可办结本工单。"
    )

    supervisor = await signed_in(browser, console, "sup_city")
    await open_case(supervisor, console, rid)
    await take(supervisor, "supervise", "请书面说明办理进展")
    await expect(supervisor.locator("#supervisions li")).to_contain_text("请书面说明办理进展")

    # the unit replies in writing: the form has its text field (not a bare button)
    await open_case(holder, console, rid)
    supervision = holder.locator("#supervisions li")
    await expect(supervision).to_contain_text(
        f"{console.users.ids['sup_city']} 督办 杭州市西湖区中小企业服务中心"
    )
    await expect(supervision).to_contain_text("待书面回复，期限 ")
    await take(holder, "reply_supervision", "已与认证机构对接，三日内办结")
    await expect(supervision).to_contain_text(f"{console.users.ids['cw_own']} 于 ")
    await expect(supervision).to_contain_text("已与认证机构对接，三日内办结")
    assert "reply_supervision" not in await offered(holder)

    # the co-handling unit: its queue marks the request, its case page offers its part only
    co = await signed_in(browser, console, "cw_other")
    row = co.locator("tbody tr", has_text=rid)
    await expect(row.locator(".tag")).to_have_text("协办")
    await open_case(co, console, rid)
    assert sorted(await offered(co)) == ["conclude_part", "sign_for_part"]
    await take(co, "sign_for_part")
    await expect(co.locator("#done")).to_have_text("✓ 已完成：协办签收。")  # still its case
    await expect(co.locator("#parts tbody tr td").nth(3)).to_contain_text("签收，办理中")
    assert await offered(co) == ["conclude_part"]
    await co.screenshot(path=shot("work-order", "zh-CN"), full_page=True)
    await take(co, "conclude_part", "认证材料已提交")
    # its part done, the unit works on the request no more: back to its queue, without it
    await expect(co.locator("[role=status]")).to_contain_text("协办部分已办结，该工单移出您的待办")
    await expect(co.locator("tbody tr", has_text=rid)).to_have_count(0)

    await open_case(holder, console, rid)
    status = holder.locator("#parts tbody tr td").nth(3)
    await expect(status).to_contain_text("办结")
    await expect(status).to_contain_text("认证材料已提交")
    assert "resolve" in await offered(holder)  # every part concluded: 办结 is offered
    await expect(holder.locator("#resolve-waits")).to_have_count(0)
    for page in (holder, supervisor, co):
        await page.context.close()


async def test_an_extension_is_approved_only_once_the_desk_has_read_what_it_does(
    browser: Browser, console: Console, on_fast_queue: SimpleNamespace
) -> None:
    """延期审批 is no bare button: the city's dispatch desk opens it, reads what approving
    does, and only then approves (a stray click on the case page decides nothing)."""
    req = make_request()  # held by cw_own's unit, zj-330106-sme
    rid = req.request_id
    await start_request(on_fast_queue, req)
    holder = await signed_in(browser, console, "cw_own")
    await open_case(holder, console, rid)
    await take(holder, "sign_for")
    await take(holder, "acknowledge")
    await holder.locator("summary#act-request_extension").click()
    await holder.locator("#t-request_extension").fill("等待第三方检测报告")
    await holder.locator("#d-request_extension").fill("3")
    async with holder.expect_navigation():
        await holder.locator("button[data-action='request_extension']").click()
    await expect(holder.locator("#done")).to_have_text("✓ 申请延期：已提交，等待审批。")

    desk = await signed_in(browser, console, "disp_city")
    await open_case(desk, console, rid)
    approve = desk.locator("button[data-action='approve_extension']")
    await expect(approve).to_be_hidden()
    await desk.locator("summary#act-approve_extension").click()
    await expect(desk.locator("#c-approve_extension")).to_have_text(
        "批准后，该单位的办结时限按其申请的工作日顺延。"
    )
    async with desk.expect_navigation():
        await approve.click()
    await expect(desk.locator("#done")).to_have_text("✓ 已完成：批准延期。")
    for page in (holder, desk):
        await page.context.close()
