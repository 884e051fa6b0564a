"""On a phone's width no console page is wider than the screen: a wide table (the clocks, the
queue, the open matters) scrolls inside its card, and the filters wrap. A grid card once took
its table's width and pushed the whole case page sideways.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from playwright.async_api import Browser

from tests.e2e.conftest import Console
from tests.e2e.test_console import signed_in
from tests.e2e.test_console_contrast import console_pages
from tests.fixtures.stack import Stack

PHONE = {"width": 390, "height": 844}

# What sticks out past the window's right edge (outside an element that scrolls it away).
STICKING_OUT = """
() => {
  const width = document.documentElement.clientWidth;
  const scrolls = e => {
    for (let p = e.parentElement; p; p = p.parentElement) {
      const overflow = getComputedStyle(p).overflowX;
      if (overflow === "auto" || overflow === "scroll" || overflow === "hidden") return true;
    }
    return false;
  };
  return [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !scrolls(e))
    .map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""))
    .slice(0, 10);
}
"""


FIRST_LABELS = {
    "zh-CN": ['"时限"', '"下一时限"', '"工单"'],
    "en": ['"SLA"', '"Next deadline"', '"Request"'],
}
CELL_LABELS = """
() => [...document.querySelectorAll("table.queue tbody tr:first-child td")]
  .map(td => getComputedStyle(td, "::before").content)
"""


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_no_page_is_wider_than_a_phone(
    browser: Browser,
    console: Console,
    stack: Stack,
    on_fast_queue: SimpleNamespace,
    locale: str,
) -> None:
    pages = await console_pages(console, stack, on_fast_queue)
    wide: dict[str, object] = {}
    for who, paths in pages.items():
        page = await signed_in(browser, console, who, locale)
        await page.set_viewport_size(PHONE)
        for path in paths:
            answer = await page.goto(console.url + path)
            assert answer is not None and answer.status == 200, path
            width = await page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide[f"{who} {path}"] = (width, await page.evaluate(STICKING_OUT))
            if path == "/console/":  # the queue's rows are cards, each cell under its name
                labels = await page.evaluate(CELL_LABELS)
                assert labels[:3] == FIRST_LABELS[locale], labels
        await page.context.close()
    assert wide == {}, wide
