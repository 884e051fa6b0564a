"""The league table (考核排名) in Chromium: a supervisor picks a period, sorts by a figure
(with and without JavaScript) and follows a number to the requests behind it.

A corpus of records in March 2024 (a month nothing else in the run touches) goes through the
real projection into the stack's database; the page must show the figures counted while
making it. Screenshots: ``assessment*.png`` (see ``shot``).
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Page, expect

from activities.persistence import TransitionWriter
from tests.e2e.conftest import Console
from tests.e2e.test_console import shot, signed_in
from tests.fixtures.stack import Stack
from tests.integration.test_assessment import _corpus, _rate
from tierflow.directory_store import institution_names

START = datetime(2024, 3, 5, 1, 30, tzinfo=UTC)
WORDS = {
    "zh-CN": {"nav": "考核", "show": "查询", "reminders": "催办", "satisfaction": "满意率",
              "satisfied": "✓ 满意", "unsatisfied": "✖ 不满意", "back": "考核排名"},
    "en": {"nav": "Assessment", "show": "Show", "reminders": "Reminders",
           "satisfaction": "Satisfaction rate", "satisfied": "✓ satisfied",
           "unsatisfied": "✖ not satisfied", "back": "Assessment league table"},
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(stack: Stack) -> dict[str, dict[str, int]]:
    """Seed the March 2024 corpus once; return what was counted while making it."""
    records, counts = _corpus(seed=random.randrange(10**6, 10**7), n=45, start=START)
    writer = TransitionWriter(stack.engine)
    for rec in records:
        writer.persist(rec)
    return counts


async def column(page: Page, figure: str) -> list[str]:
    return await page.locator(f"table.league tbody td[data-figure='{figure}']").all_inner_texts()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_league_table_sorts_and_drills_down(
    browser: Browser,
    console: Console,
    stack: Stack,
    corpus: dict[str, dict[str, int]],
    locale: str,
) -> None:
    words = WORDS[locale]
    # English runs without JavaScript: picking, sorting and drilling down are links and forms
    page = await signed_in(
        browser, console, "sup_city", locale, java_script_enabled=locale == "zh-CN"
    )
    await page.get_by_role("link", name=words["nav"], exact=True).click()
    await expect(page).to_have_url(re.compile(r"/console/assessment$"))
    await page.locator("#p-since").fill("2024-03-01")
    await page.locator("#p-until").fill("2024-03-31")
    await page.get_by_role("button", name=words["show"]).click()
    await expect(page).to_have_url(re.compile(r"since=2024-03-01&until=2024-03-31"))
    rows = page.locator("table.league tbody tr")
    await expect(rows).to_have_count(len(corpus))

    # sort by reminders: most first, then (a second click) fewest first
    await page.locator("table.league thead a", has_text=words["reminders"]).click()
    await expect(page).to_have_url(re.compile(r"sort=reminders&order=desc"))
    await expect(page.locator("th[aria-sort='descending']")).to_contain_text(words["reminders"])
    most = sorted((c["reminders"] for c in corpus.values()), reverse=True)
    assert [int(v) for v in await column(page, "reminders")] == most
    await page.locator("table.league thead a", has_text=words["reminders"]).click()
    await expect(page).to_have_url(re.compile(r"sort=reminders&order=asc"))
    assert [int(v) for v in await column(page, "reminders")] == most[::-1]

    # back to the satisfaction ranking, the figures as counted, and its chart
    # by its sort key: 受理满意率 (intake) also contains the words 满意率
    satisfaction = page.locator("table.league thead a[href*='sort=satisfaction_rate&']")
    await expect(satisfaction).to_contain_text(words["satisfaction"])
    await satisfaction.click()
    await expect(page).to_have_url(re.compile(r"sort=satisfaction_rate&order=desc"))
    first = await page.locator("table.league tbody tr").first.get_attribute("id")
    assert first is not None
    unit = first.removeprefix("inst-")
    counted = corpus[unit]
    best = max(_rate(c["satisfied"], c["ratings"]) or 0.0 for c in corpus.values())
    assert _rate(counted["satisfied"], counted["ratings"]) == best
    chart = page.locator("figure.chart[data-figure='satisfaction_rate']")
    await expect(chart.locator("g.chart-row")).to_have_count(len(corpus))
    name = institution_names(stack.engine, [unit])[unit]  # a bar says whose it is by name
    await expect(chart.locator("g.chart-row").first.locator("text.chart-label")).to_have_text(name)
    await page.screenshot(path=shot("assessment", locale), full_page=True)

    # drill down: the ratings behind the best satisfaction rate
    cell = page.locator(f"tr#inst-{unit} td[data-figure='satisfaction_rate'] a")
    await cell.click()
    await expect(page).to_have_url(re.compile(r"/console/assessment/requests\?"))
    listed = page.locator("table.behind tbody tr")
    await expect(listed).to_have_count(counted["ratings"])
    await expect(listed.filter(has_text=words["satisfied"])).to_have_count(counted["satisfied"])
    unsatisfied = counted["ratings"] - counted["satisfied"]
    await expect(listed.filter(has_text=words["unsatisfied"])).to_have_count(unsatisfied)
    href = await listed.first.locator("a").get_attribute("href")
    assert href is not None and href.startswith("/console/requests/req-assess-")
    await page.screenshot(path=shot("assessment-requests", locale), full_page=True)
    await page.get_by_role("link", name=words["back"]).click()
    await expect(page).to_have_url(re.compile(r"/console/assessment\?.*sort=satisfaction_rate"))
    await page.context.close()
