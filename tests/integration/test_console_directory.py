"""The console's 机构名录 page on the real app and database: an admin imports a CSV (a new
version in directory_version, a configured directory file rewritten, the institution table
refreshed, the history showing it), without a directory file the import is recorded for the
workers all the same, an invalid CSV lists every problem by line and column in Chinese and
changes nothing, an edit of one institution is a version too, the CSV download is what
``tierflow directory export`` writes, and nobody but an admin gets in."""

from __future__ import annotations

import html
import re
import shutil
from datetime import timedelta
from importlib import resources
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from schemas.domain import Category, Tier
from tests.fixtures.console import Console, page_csrf, signed_in
from tierflow.cli import app as cli
from tierflow.db.models import DirectoryVersion, InstitutionRow
from tierflow.directory import Directory, DirectoryWatch
from tierflow.directory_csv import export_csv
from tierflow.directory_source import RecordedDirectory
from tierflow.directory_store import load_version, refresh_institutions

NEW_COUNTY = "gd-440106-sme,广州市天河区中小企业服务中心,county,440106,,020-1,0\n"
DROPPED = "zj-330105-sme"  # a county office the new version leaves out
PROBLEM = re.compile(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>")


@pytest.fixture
def directory_file(console: Console, tmp_path: Path) -> Path:
    """The workers' directory file, a copy of the packaged one, in the institution table as
    ``tierflow db seed`` leaves it."""
    target = tmp_path / "directory.json"
    packaged = resources.files("tierflow.data").joinpath("directory.json")
    with resources.as_file(packaged) as source:
        shutil.copyfile(source, target)
    with Session(console.engine) as session:
        refresh_institutions(session, Directory.load(target))
        session.commit()
    return target


def named_csv(path: Path) -> str:
    return export_csv(e for e in Directory.load(path).entries if not e.generated)


def table(console: Console) -> dict[str, InstitutionRow]:
    with Session(console.engine) as session:
        return {row.id: row for row in session.exec(select(InstitutionRow)).all()}


def versions(console: Console) -> list[DirectoryVersion]:
    with Session(console.engine) as session:
        return list(session.exec(select(DirectoryVersion)).all())


async def upload(
    client: httpx.AsyncClient,
    body: str,
    name: str = "directory.csv",
    version: str = "",
    allow_removal: bool = False,
) -> httpx.Response:
    csrf = await page_csrf(client)
    data = {"csrf_token": csrf, "version": version}
    if allow_removal:
        data["allow_removal"] = "yes"
    return await client.post(
        "/console/directory/import",
        data=data,
        files={"file": (name, body.encode("utf-8"), "text/csv")},
    )


async def test_an_admin_imports_a_csv_as_a_new_version(
    console: Console,
    directory_file: Path,
) -> None:
    watch = DirectoryWatch(directory_file)  # a worker's view of the file
    assert watch.current().version == "2026.1"
    lines = [line for line in named_csv(directory_file).splitlines(True) if DROPPED not in line]
    body = "".join(lines) + NEW_COUNTY
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        before = await client.get("/console/directory")
        assert before.status_code == 200, before.text
        assert 'href="/console/directory" aria-current="page"' in before.text  # navigation
        assert 'data-version="2026.1"' in before.text and "未记录在数据库中" in before.text

        # the office left out still has people (its caseworkers): refused, naming it
        kept = await upload(client, body, "天河.csv", "2026.12")
        assert kept.status_code == 422, kept.status_code
        assert f"导入未包含 {DROPPED}" in kept.text and "个用户账号" in kept.text
        assert versions(console) == []
        done = await upload(client, body, "天河.csv", "2026.12", allow_removal=True)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/console/directory?imported=2026.12"
        page = await client.get(done.headers["location"])

    # the file the workers read: the new version, picked up without a restart
    assert Directory.load(directory_file).version == "2026.12"
    routed = watch.current().route("440106", Category.FINANCING, Tier.COUNTY)
    assert watch.current().version == "2026.12" and routed is not None
    assert routed.id == "gd-440106-sme"
    # recorded whole, with who imported it
    [row] = versions(console)
    assert (row.version, row.imported_by, row.source) == (
        "2026.12",
        console.users.ids["admin"],
        "天河.csv",
    )
    assert row.institutions == len(lines) - 1 + 1  # the header out, the new office in
    stored = load_version(console.engine, "2026.12")
    assert stored is not None
    assert export_csv(stored.entries) == export_csv(Directory.load(directory_file).entries)
    # the read model's institutions are the new directory's
    rows = table(console)
    assert set(rows) == {e.id for e in Directory.load(directory_file).entries}
    assert "gd-440106-sme" in rows and "gen-440106" not in rows
    assert rows["gd-440106-sme"].contact == "020-1"
    assert DROPPED not in rows and "gen-330105" in rows  # its division has a placeholder now
    # the page: the new version, counted, and in the history
    assert page.status_code == 200
    assert "版本 2026.12 已导入" in page.text and 'data-version="2026.12"' in page.text
    assert "未记录在数据库中" not in page.text
    history = page.text.split("导入记录", 1)[1]
    assert "2026.12" in history and console.users.ids["admin"] in history
    assert "天河.csv" in history


async def test_an_invalid_csv_lists_every_problem_and_changes_nothing(
    console: Console,
    directory_file: Path,
) -> None:
    before_file = directory_file.read_bytes()
    before_rows = {i: r.model_dump() for i, r in table(console).items()}
    body = (
        named_csv(directory_file)
        + "x-1,某县中心,county,990101,,,0\n"  # unknown division
        + "x-2,某县中心,,330106,,,0\n"  # missing tier
        + "zj-330106-sme,重复,county,330106,,,0\n"  # duplicate id
    )
    first = next(
        n for n, line in enumerate(body.splitlines(), 1) if line.startswith("zj-330106-sme,")
    )
    end = len(body.splitlines())
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        refused = await upload(client, body, "bad.csv")
    assert refused.status_code == 422
    problems = [tuple(html.unescape(c) for c in cells) for cells in PROBLEM.findall(refused.text)]
    assert problems == [
        (str(end - 2), "区划代码", "区划代码 990101 不在 GB/T 2260 区划数据中"),
        (
            str(end - 1),
            "层级",
            "缺失：应为 county（县级）、municipal（市级）、provincial（省级）或 national（国家级）",
        ),
        (str(end), "机构编号", f"机构编号 zj-330106-sme 重复（首次出现在第 {first} 行）"),
    ]
    assert "bad.csv 有 3 处问题，未导入任何内容。" in refused.text
    assert directory_file.read_bytes() == before_file
    assert versions(console) == []
    assert {i: r.model_dump() for i, r in table(console).items()} == before_rows


async def test_a_column_the_directory_does_not_have_is_refused(
    console: Console, directory_file: Path
) -> None:
    """``category`` for ``categories``: ignored, it would make every specialised unit serve
    every category; the header is refused instead, naming the column."""
    body = named_csv(directory_file).replace("categories", "category", 1)
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        refused = await upload(client, body)
    assert refused.status_code == 422
    [(_, column, message)] = [
        tuple(html.unescape(c) for c in cells) for cells in PROBLEM.findall(refused.text)
    ]
    assert column == "表头" and message.startswith("表头含有机构名录没有的列 category")
    assert versions(console) == []


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            "x,X,county,330100,,,0\n",
            ("层级与区划代码", "层级为县级，但区划代码 330100 属于市级区划"),
        ),
        ("x,X,county,330103,,,0\n", ("区划代码", "区划代码 330103 已撤销，请改用 330105")),
        ("gen-1,X,county,330106,,,0\n", ("机构编号", "机构编号 gen-1 以 gen- 开头")),
        ("x,X,county,330106,loans,,0\n", ("服务类别", "未知服务类别 loans")),
        # a real institution marked generated would be skipped, and so removed
        ("x,X,county,330106,,,1\n", ("系统生成标记", "标为系统生成，但编号 x 不是")),
    ],
)
async def test_each_kind_of_problem_is_worded_in_chinese(
    console: Console,
    directory_file: Path,
    rows: str,
    expected: tuple[str, str],
) -> None:
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        refused = await upload(client, named_csv(directory_file) + rows)
    assert refused.status_code == 422
    [(_, column, message)] = [
        tuple(html.unescape(c) for c in cells) for cells in PROBLEM.findall(refused.text)
    ]
    assert column == expected[0] and message.startswith(expected[1])


async def test_a_version_is_imported_once_and_the_default_one_is_the_time(
    console: Console,
    directory_file: Path,
) -> None:
    base = named_csv(directory_file)
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        assert (await upload(client, base, version="v1")).status_code == 303
        again = await upload(client, base, version="v1")
        assert again.status_code == 422
        assert "版本 v1 已导入过，请换一个版本号" in again.text
        # the same sheet again (a nightly sync): nothing imported, no version added
        same = await upload(client, base)
        assert same.headers["location"] == "/console/directory?unchanged=v1"
        shown = await client.get(same.headers["location"])
        assert "文件中的机构与最新版本 v1 相同：未导入，也未新增版本。" in shown.text
        tianhe = "gd-440106-sme,广州市天河区中小企业服务中心,county,440106,,,0\n"
        stamped = await upload(client, base + tianhe)
        panyu = "gd-440113-sme,广州市番禺区中小企业服务中心,county,440113,,,0\n"
        twice = await upload(client, base + tianhe + panyu)
    assert stamped.headers["location"] == "/console/directory?imported=20261201T090000Z"
    assert twice.headers["location"] == "/console/directory?imported=20261201T090000Z-2"
    assert sorted(v.version for v in versions(console)) == [
        "20261201T090000Z",
        "20261201T090000Z-2",
        "v1",
    ]


async def test_the_list_filters_and_pages(console: Console, directory_file: Path) -> None:
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        found = await client.get("/console/directory", params={"q": "天河", "prefix": "44"})
        assert found.status_code == 200
        assert re.findall(r'<tr id="inst-([^"]+)">', found.text) == ["gen-440106"]
        assert "广州市天河区" in found.text and "系统生成" in found.text
        cities = await client.get(
            "/console/directory", params={"tier": "municipal", "prefix": "33"}
        )
        ids = re.findall(r'<tr id="inst-([^"]+)">', cities.text)
        assert ids == [
            e.id
            for e in Directory.load(directory_file).entries
            if e.tier is Tier.MUNICIPAL and e.division_code.startswith("33")
        ]
        assert "zj-330100-sme" in ids and "zj-330106-sme" not in ids
        placeholders = await client.get(
            "/console/directory", params={"generated": "1", "prefix": "51", "page": "2"}
        )
        ids = re.findall(r'<tr id="inst-([^"]+)">', placeholders.text)
        assert len(ids) == 50 and all(i.startswith("gen-51") for i in ids)
        assert "第 2 页" in placeholders.text and 'rel="prev"' in placeholders.text


async def test_an_admin_edits_one_institution_as_a_new_version(
    console: Console,
    directory_file: Path,
) -> None:
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        form = await client.get("/console/directory/institutions/zj-330106-sme")
        assert form.status_code == 200 and "西湖区" in form.text
        csrf = await page_csrf(client)
        saved = await client.post(
            "/console/directory/institutions/zj-330106-sme",
            data={
                "csrf_token": csrf,
                "name": "杭州市西湖区中小企业服务中心（新址）",
                "categories": ["financing", "talent"],
                "contact": "0571-1234",
            },
        )
        assert saved.status_code == 303, saved.text
        empty = await client.post(
            "/console/directory/institutions/zj-330106-sme",
            data={"csrf_token": csrf, "name": " "},
        )
        assert empty.status_code == 422 and "名称: 缺失：此列必填" in empty.text
        placeholder = await client.get("/console/directory/institutions/gen-440106")
        assert placeholder.status_code == 404
    entry = Directory.load(directory_file).get("zj-330106-sme")
    assert entry is not None and entry.name == "杭州市西湖区中小企业服务中心（新址）"
    assert [c.value for c in entry.categories] == ["financing", "talent"]
    [row] = versions(console)
    assert row.source == "console: zj-330106-sme"
    assert table(console)["zj-330106-sme"].contact == "0571-1234"


async def test_the_download_is_what_the_cli_exports(
    console: Console,
    directory_file: Path,
) -> None:
    runner = CliRunner()
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        for params, flags in (({}, []), ({"with_generated": "1"}, ["--with-generated"])):
            got = await client.get("/console/directory.csv", params=params)
            assert got.status_code == 200
            assert "directory-2026.1.csv" in got.headers["content-disposition"]
            cli_out = runner.invoke(
                cli, ["directory", "export", "--directory", str(directory_file), *flags]
            )
            assert cli_out.exit_code == 0
            assert got.text == "\ufeff" + cli_out.stdout


async def test_without_a_directory_file_an_import_is_recorded_for_every_worker(
    console: Console,
) -> None:
    """An API replica with no directory file (the workers run elsewhere): an import and an
    edit are recorded in the database, the page shows the newest as current, and a worker's
    source finds it there; each version's import log continues the one before."""
    packaged = Directory.load()
    worker = RecordedDirectory(console.engine, packaged, interval=0)  # checked by hand here
    assert worker.current() is packaged  # nothing recorded yet: the worker's own file
    body = export_csv(e for e in packaged.entries if not e.generated) + NEW_COUNTY
    async with signed_in(console, "admin") as client:
        page = await client.get("/console/directory")
        assert page.status_code == 200 and 'data-version="2026.1"' in page.text
        assert "未记录在数据库中" in page.text
        done = await upload(client, body, "天河.csv", "2026.12")
        assert done.status_code == 303, done.text
        page = await client.get(done.headers["location"])
        assert "版本 2026.12 已导入" in page.text and 'data-version="2026.12"' in page.text
        assert "未记录在数据库中" not in page.text
        assert worker.refresh() and worker.current().version == "2026.12"
        routed = worker.current().route("440106", Category.FINANCING, Tier.COUNTY)
        assert routed is not None and routed.id == "gd-440106-sme"

        console.clock.now += timedelta(minutes=5)
        csrf = await page_csrf(client)
        saved = await client.post(
            "/console/directory/institutions/gd-440106-sme",
            data={"csrf_token": csrf, "name": "天河区中小企业服务中心", "contact": "020-2"},
        )
        assert saved.status_code == 303, saved.text
    edit = "20261201T090500Z"
    assert sorted(v.version for v in versions(console)) == ["2026.12", edit]
    assert worker.refresh() and worker.current().version == edit
    assert [r.version for r in worker.current().imports_log()] == ["2026.12", edit]
    entry = worker.current().get("gd-440106-sme")
    assert entry is not None and entry.name == "天河区中小企业服务中心"
    assert table(console)["gd-440106-sme"].contact == "020-2"


@pytest.mark.parametrize("who", ["sup_prov", "cw_own", "desk_city"])
async def test_only_admins_get_in(
    console: Console,
    directory_file: Path,
    who: str,
) -> None:
    before = directory_file.read_bytes()
    async with signed_in(console, who, directory_file=directory_file) as client:
        for path in (
            "/console/directory",
            "/console/directory.csv",
            "/console/directory/institutions/zj-330106-sme",
        ):
            refused = await client.get(path)
            assert refused.status_code == 403, path
            assert "无权管理机构名录" in refused.text
        posted = await upload(client, named_csv(directory_file) + NEW_COUNTY)
        assert posted.status_code == 403
        menu = await client.get("/console/")
        assert "/console/directory" not in menu.text
    assert directory_file.read_bytes() == before and versions(console) == []


async def test_the_form_needs_the_sessions_csrf_token(
    console: Console,
    directory_file: Path,
) -> None:
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        forged = await client.post(
            "/console/directory/import",
            data={"csrf_token": "0" * 64},
            files={"file": ("d.csv", named_csv(directory_file).encode(), "text/csv")},
        )
    assert forged.status_code == 403 and versions(console) == []


async def test_a_whole_national_directory_fits_the_upload_limit(
    console: Console,
    directory_file: Path,
) -> None:
    """Every division with a real office (~3,200 rows, over the API's 256 KB body limit)."""
    entries = Directory.load(directory_file).entries
    named = [e.model_copy(update={"generated": False}) for e in entries if not e.generated]
    offices = [
        e.model_copy(update={"id": f"real-{e.division_code}", "generated": False})
        for e in entries
        if e.generated
    ]
    body = export_csv(named + offices)
    assert len(body.encode()) > 256 * 1024
    async with signed_in(console, "admin", directory_file=directory_file) as client:
        done = await upload(client, body, version="national")
        elsewhere = await client.post("/console/inbox/read", content=body.encode())
    assert done.status_code == 303, done.text[:2000]
    assert elsewhere.status_code == 413  # the larger limit is the import's only
    assert not Directory.load(directory_file).generated()  # every division named
    assert not any(i.startswith("gen-") for i in table(console))
