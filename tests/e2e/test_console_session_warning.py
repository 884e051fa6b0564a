"""A page left open warns before the session's idle time ends, so a long reply typed there is
not lost: two minutes before, a dialog (an alertdialog, its button focused) offers to keep
working, which renews the session on the server; left alone, it says the session ended and
offers to sign in again. The page's timers run on Playwright's installed clock (no waiting);
the keep-alive goes to the real app."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.conftest import Console
from tests.e2e.test_console import signed_in

IDLE_MS = 30 * 60 * 1000  # the console's default idle time


async def test_a_page_left_open_warns_before_the_session_ends(
    browser: Browser, console: Console
) -> None:
    page = await signed_in(browser, console, "cw_own")
    await page.clock.install()
    await page.goto(f"{console.url}/console/submit")
    await page.locator("#f-subject").fill("融资需求：流动资金贷款 300 万元")
    await page.locator("#f-subject").focus()
    dialog = page.get_by_role("alertdialog", name="会话即将结束")
    await expect(dialog).to_be_hidden()

    await page.clock.run_for(IDLE_MS - 2 * 60 * 1000 + 1000)  # two minutes before the end
    await expect(dialog).to_be_visible()
    keep = dialog.get_by_role("button", name="继续工作")
    await expect(keep).to_be_focused()
    await keep.click()  # renews the session on the server
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#f-subject")).to_be_focused()  # back where the caseworker was

    await page.clock.run_for(IDLE_MS)  # left alone for the whole idle time
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("会话已结束")
    await expect(dialog.get_by_role("link", name="重新登录")).to_be_focused()
    await expect(page.locator("#f-subject")).to_have_value("融资需求：流动资金贷款 300 万元")
    await page.context.close()
