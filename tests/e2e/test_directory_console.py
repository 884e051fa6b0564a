"""The institution directory page (机构名录) in Chromium: an admin finds it in the navigation,
uploads a CSV with mistakes (every problem listed by line and column, nothing imported), then
a good one (a new version, in the history), and filters the list down to the new office.

The app runs under uvicorn on its own SQLite database and directory file (no Temporal needed:
the page only reads and writes the directory). Screenshots: ``directory*.png`` (see
``tests.e2e.test_console.shot``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect
from sqlmodel import Session
from temporalio.client import Client

from api.app import create_app
from tests.e2e.conftest import Console, served
from tests.e2e.test_console import shot, signed_in
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.directory import Directory
from tierflow.directory_csv import export_csv
from tierflow.directory_store import record_file, refresh_institutions
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port

WORDS = {
    "zh-CN": {"nav": "机构名录", "import": "导入 CSV", "search": "搜索",
              "imported": "版本 2026.12 已导入",
              "problems": "bad.csv 有 3 处问题，未导入任何内容。",
              "column": "区划代码", "named": "实名"},
    "en": {"nav": "Directory", "import": "Import CSV", "search": "Search",
           "imported": "Version 2026.12 imported", "problems": "3 problems in bad.csv",
           "column": "division code", "named": "named"},
}  # fmt: skip
OFFICE = "gd-440106-sme,广州市天河区中小企业服务中心,county,440106,,020-38880000,0\n"


@pytest_asyncio.fixture(loop_scope="session")
async def directory_console(tmp_path: Path) -> AsyncIterator[Console]:
    """The app with a directory file (a copy of the packaged one, recorded as ``tierflow db
    seed`` would) and its own database."""
    url = f"sqlite:///{tmp_path / 'tierflow.db'}"
    upgrade(url)
    engine = make_engine(url)
    target = tmp_path / "directory.json"
    with resources.as_file(resources.files("tierflow.data").joinpath("directory.json")) as src:
        shutil.copyfile(src, target)
    with Session(engine) as session:
        refresh_institutions(session, Directory.load(target))
        session.commit()
    record_file(engine, target, "cli:seed")
    settings = Settings(home=tmp_path, database_url=url, directory_file=target)
    lazy = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)  # never used
    try:
        with served(create_app(settings, lazy, engine), engine, settings) as console:
            yield console
    finally:
        engine.dispose()


def upload(name: str, body: str) -> dict[str, object]:
    return {"name": name, "mimeType": "text/csv", "buffer": body.encode("utf-8")}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_an_admin_imports_the_directory(
    browser: Browser, directory_console: Console, locale: str
) -> None:
    words = WORDS[locale]
    target = directory_console.settings.directory_file
    assert target is not None
    named = export_csv(e for e in Directory.load(target).entries if not e.generated)
    page = await signed_in(browser, directory_console, "admin", locale)
    await page.get_by_role("link", name=words["nav"], exact=True).click()
    await expect(page).to_have_url(re.compile(r"/console/directory$"))
    await expect(page.locator(".version")).to_have_text("2026.1")

    # mistakes: an unknown division, a missing tier, a repeated id; nothing is imported
    bad = (
        named
        + "x-1,某县中心,county,990101,,,0\n"
        + "x-2,某县中心,,330106,,,0\n"
        + "zj-330106-sme,重复,county,330106,,,0\n"
    )
    await page.locator("#d-file").set_input_files(upload("bad.csv", bad))  # type: ignore[arg-type]
    await page.get_by_role("button", name=words["import"]).click()
    errors = page.locator(".import-errors tbody tr")
    await expect(errors).to_have_count(3)
    await expect(page.locator(".import-errors")).to_contain_text(words["problems"])
    await expect(errors.first).to_contain_text(words["column"])
    await expect(page.locator(".version")).to_have_text("2026.1")
    await page.screenshot(path=shot("directory-errors", locale))  # the top: the problems

    # the good file: a new version, the newest in the database, which the workers route by
    await page.locator("#d-file").set_input_files(upload("天河.csv", named + OFFICE))  # type: ignore[arg-type]
    await page.locator("#d-version").fill("2026.12")
    await page.get_by_role("button", name=words["import"]).click()
    await expect(page).to_have_url(re.compile(r"imported=2026\.12"))
    await expect(page.get_by_role("status")).to_contain_text(words["imported"])
    await expect(page.locator(".version")).to_have_text("2026.12")
    latest = page.locator("table.history tbody tr").first
    await expect(latest).to_contain_text("2026.12")
    await expect(latest).to_contain_text(directory_console.users.ids["admin"])
    await expect(latest).to_contain_text("天河.csv")
    assert Directory.load(target).version == "2026.12"

    # the list down to Tianhe's district: the new office replaced the placeholder
    await page.locator("#d-prefix").fill("440106")
    await page.get_by_role("button", name=words["search"], exact=True).click()
    rows = page.locator("table.directory tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("广州市天河区中小企业服务中心")
    await expect(rows.first).to_contain_text(words["named"])
    await page.locator("#d-prefix").fill("4401")
    await page.get_by_role("button", name=words["search"], exact=True).click()
    await page.screenshot(path=shot("directory", locale), full_page=True)
    await page.context.close()
