"""Every button, link, badge and aside of the console reads against what is behind it: a
text contrast of at least 4.5:1 (WCAG AA), measured in Chromium on the rendered pages. A
style made for the dark header and reused on a light page once left the inbox's 标为已读
white on white.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from playwright.async_api import Browser, expect

from tests.e2e.conftest import Console
from tests.e2e.test_console import signed_in
from tests.fixtures.stack import Stack
from tests.integration.notifier.test_inbox_api import add_inbox
from tests.utils.factories import make_request
from tests.utils.stack_helpers import start_request

AA = 4.5

# Each visible control's and small print's text colour against the first opaque background
# behind it (badges, tags, muted and small text, alerts).
CONTRAST = """
() => {
  const rgba = text => {
    const [r, g, b, a = 1] = text.match(/[\\d.]+/g).map(Number);
    return { r, g, b, a };
  };
  const luminance = ({ r, g, b }) => {
    const linear = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const behind = element => {
    for (let e = element; e; e = e.parentElement) {
      const colour = rgba(getComputedStyle(e).backgroundColor);
      if (colour.a > 0) return colour;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const found = [];
  const controls = "main :is(button, a, summary, .badge, .tag, .muted, .alert, small)";
  for (const e of document.querySelectorAll(controls)) {
    const box = e.getBoundingClientRect();
    if (box.width < 2 || box.height < 2 || !e.innerText.trim()) continue;  // not shown
    const fg = luminance(rgba(getComputedStyle(e).color));
    const bg = luminance(behind(e));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    found.push({ text: e.innerText.trim().slice(0, 30), ratio: Math.round(ratio * 100) / 100 });
  }
  return found;
}
"""


async def console_pages(
    console: Console, stack: Stack, fast_queue: SimpleNamespace
) -> dict[str, list[str]]:
    """The pages to check, by who reads them: a held request and an unread message make the
    queue, the case page and the inbox show their rows and badges."""
    req = make_request()  # held by cw_own's unit
    await start_request(fast_queue, req)
    # one unread message, about this request: each caller's own (a test may call it again)
    add_inbox(stack.engine, console.users.ids["cw_own"], 1, "新派单", req.request_id)
    return {
        "cw_own": [
            "/console/",
            "/console/inbox",
            "/console/preferences",
            f"/console/requests/{req.request_id}",
            "/console/submit",
        ],
        "sup_city": ["/console/overview", "/console/assessment", "/console/whatif"],
        "admin": ["/console/directory", "/console/directory/institutions/zj-330106-sme"],
    }


async def test_controls_and_small_print_meet_the_contrast_minimum(
    browser: Browser, console: Console, stack: Stack, on_fast_queue: SimpleNamespace
) -> None:
    pages = await console_pages(console, stack, on_fast_queue)
    faint: dict[str, list[dict[str, object]]] = {}
    seen = 0
    for who, paths in pages.items():
        page = await signed_in(browser, console, who)
        for path in paths:
            answer = await page.goto(console.url + path)
            assert answer is not None and answer.status == 200, path
            found = await page.evaluate(CONTRAST)
            seen += len(found)
            if low := [f for f in found if f["ratio"] < AA]:
                faint[f"{who} {path}"] = low
        await page.context.close()
    assert seen > 40 and faint == {}, faint


async def test_each_mark_read_button_names_its_message_and_the_badge_reads_as_words(
    browser: Browser, console: Console, stack: Stack, on_fast_queue: SimpleNamespace
) -> None:
    """A screen reader's list of buttons told "标为已读" three times apart from nothing; the
    navigation's count read as a bare number. Each button names its message now."""
    user = console.users.ids["cw_own"]
    subjects = []
    for what in ("新派单", "即将超时"):
        rid = make_request().request_id
        add_inbox(stack.engine, user, 1, f"{what} {rid}", rid)
        subjects.append(f"{what} {rid}")
    page = await signed_in(browser, console, "cw_own")
    await page.goto(console.url + "/console/inbox")
    for subject in subjects:
        button = page.get_by_role("button", name=re.compile(f"^标为已读 .*{subject}"))
        await expect(button).to_have_count(1)
    inbox = page.get_by_role("link", name=re.compile(r"^通知\s*（\d+ 条未读）$"))
    await expect(inbox).to_have_count(1)
    await page.context.close()
