"""The SLA what-if page (策略推演) in Chromium: an admin finds it in the navigation, uploads a
candidate policy with halved targets, runs it over the recorded requests, and sees the totals
before and after, a before/after chart per group, the changed requests (each linked to its
page) and the downloads; another measure redraws the charts. A supervisor's run stays in
their region.

The app runs under uvicorn on a SQLite read model holding generated traffic recorded by the
live workflow (``tierflow_dev.whatif_traffic``; no Temporal needed afterwards), its clock at
the recording's end. Screenshots: whatif.png and whatif.en.png (see ``shot``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect
from temporalio.client import Client

from api.app import create_app
from tests.e2e.conftest import Console, served
from tests.e2e.test_console import shot, signed_in
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.whatif_traffic import Trail, recorded_trail, scaled_policy

COUNT = 30
SEED = 2028
WORDS = {
    "zh-CN": {"nav": "策略推演", "file": "策略文件（TOML）", "run": "开始推演",
              "changes": "件工单有变化", "measure": "按时办结率（占全部工单）",
              "region": "您的辖区：33（浙江省）"},
    "en": {"nav": "SLA what-if", "file": "A policy file (TOML)", "run": "Run the what-if",
           "changes": "requests change", "measure": "On-time rate",
           "region": "Your region: 33 (浙江省)"},
}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trail(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Trail]:
    async with recorded_trail(tmp_path_factory.mktemp("whatif-e2e"), COUNT, SEED) as found:
        yield found


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def whatif_console(
    trail: Trail, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    """The app on the recorded read model, its clock where the recording ended."""
    settings = Settings(home=tmp_path_factory.mktemp("home"), database_url=trail.url)
    lazy = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)  # never used
    app = create_app(settings, lazy, trail.engine, clock=lambda: trail.horizon)
    with served(app, trail.engine, settings) as console:
        yield console


def upload(name: str, body: str) -> dict[str, object]:
    return {"name": name, "mimeType": "application/toml", "buffer": body.encode("utf-8")}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_an_admin_runs_a_candidate_and_sees_what_changes(
    browser: Browser, whatif_console: Console, locale: str, tmp_path: Path
) -> None:
    words = WORDS[locale]
    page = await signed_in(browser, whatif_console, "admin", locale)
    await page.get_by_role("link", name=words["nav"], exact=True).click()
    await expect(page).to_have_url(re.compile(r"/console/whatif$"))

    version = f"halved-{locale}"
    await page.get_by_label(words["file"], exact=True).first.check()
    await page.locator("#w-policy").set_input_files(
        upload(f"{version}.toml", scaled_policy(version, 0.5))
    )  # type: ignore[arg-type]
    await page.get_by_role("button", name=words["run"]).click()
    await expect(page).to_have_url(re.compile(r"/console/whatif/wi-[0-9a-f-]+$"))
    await expect(page.locator(".candidate-version")).to_have_text(version)
    await expect(page.locator(".run-by")).to_have_text(whatif_console.users.ids["admin"])

    # the totals: more breaches under halved targets
    breaches = page.locator('.whatif-totals tr[data-measure="breaches"] td')
    await expect(breaches.nth(2)).to_have_class(re.compile("change-up"))

    # a chart per group, two bars per group
    charts = page.locator("figure.whatif-chart")
    await expect(charts).to_have_count(4)
    for dimension in ("institution", "tier", "category", "priority"):
        chart = page.locator(f'figure[data-dimension="{dimension}"]')
        await expect(chart.locator("rect.bar-after").first).to_be_visible()
        assert (
            await chart.locator("rect.bar-before").count()
            == await chart.locator("rect.bar-after").count()
        )

    # the changed requests, each linked to its page
    changed = page.locator("table.whatif-changed tbody tr")
    await expect(page.locator("table.whatif-changed caption")).to_contain_text(words["changes"])
    assert await changed.count() > 0
    link = changed.first.locator("a")
    await expect(link).to_have_attribute("href", re.compile(r"^/console/requests/demo-"))

    # the downloads
    async with page.expect_download() as waiting:
        await page.locator(".downloads a").nth(1).click()
    download = await waiting.value
    target = tmp_path / "figures.csv"
    await download.save_as(target)
    assert target.read_text("utf-8-sig").startswith("dimension,group,measure,before,after,change")

    top = {"x": 0, "y": 0, "width": 1360, "height": 2100}  # the totals, charts, first changes
    await page.screenshot(path=shot("whatif", locale), full_page=True, clip=top)  # type: ignore[arg-type]

    # another measure redraws the charts
    await page.get_by_role("link", name=words["measure"], exact=True).click()
    await expect(page).to_have_url(re.compile(r"measure=on_time_rate"))
    await expect(page.locator("figure.whatif-chart figcaption").first).to_contain_text(
        words["measure"]
    )
    await page.context.close()


async def test_a_supervisor_runs_within_their_region(
    browser: Browser, whatif_console: Console
) -> None:
    words = WORDS["zh-CN"]
    page = await signed_in(browser, whatif_console, "sup_prov")
    await page.get_by_role("link", name=words["nav"], exact=True).click()
    await expect(page.locator(".whatif-form")).to_contain_text(words["region"])
    await page.get_by_label(words["file"], exact=True).first.check()
    await page.locator("#w-policy").set_input_files(upload("prov.toml", scaled_policy("prov", 0.5)))  # type: ignore[arg-type]
    await page.get_by_role("button", name=words["run"]).click()
    await expect(page).to_have_url(re.compile(r"/console/whatif/wi-"))
    await expect(page.locator(".whatif-summary")).to_contain_text("辖区 33… 监管的工单")
    await expect(page.locator(".whatif-promote")).to_have_count(0)  # admins promote
    await page.context.close()
