"""`tierflow reports monthly` on a real database: the .xlsx read back holds the month's figures,
one sheet per tier, Chinese headers first, and nothing from the month before or after."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from activities.persistence import TransitionWriter
from tests.integration.test_assessment import (
    COUNTY_UNITS,
    WIDE,
    _added_up,
    _corpus,
    _list_in_directory,
    _rate,
)
from tests.utils.factories import RecordFactory, make_request
from tests.utils.language import language_env
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine


def test_the_monthly_file_holds_the_months_figures(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    november, counts = _corpus(seed=31, n=40, start=datetime(2026, 11, 10, 1, 30, tzinfo=UTC))
    october, _ = _corpus(seed=32, n=10, start=datetime(2026, 10, 20, 1, 30, tzinfo=UTC))
    writer = TransitionWriter(engine)
    for rec in [*november, *october]:
        writer.persist(rec)
    engine.dispose()
    out = tmp_path / "考核月报-2026-11.xlsx"
    env = {"TIERFLOW_DATABASE_URL": db_url} | language_env()
    result = CliRunner().invoke(
        cli_app, ["reports", "monthly", "--month", "2026-11", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"{out}：{len(counts)} 个机构，2026-11" in result.output

    book = load_workbook(out)
    assert book.sheetnames == ["说明", "汇总", "县级"]
    about = {row[0]: row[1] for row in book["说明"].iter_rows(values_only=True)}
    assert (
        about["考核月报"] == "2026-11"
        and about["统计期间（北京时间）"] == "2026-11-01 至 2026-11-30"
    )
    # the figures are those of the moment it was made: a published report is the file kept
    assert "以生成时间为准" in about["数据时点"] and about["生成时间"]
    rows = list(book["县级"].iter_rows(values_only=True))
    zh, codes, body = rows[0], rows[1], rows[2:]
    assert zh[:3] == ("机构编号", "机构名称", "层级") and "满意率" in zh and "响应率" in zh
    assert "受理满意率" in zh and "受理评价数" in zh
    assert codes[0] == "institution_id" and "satisfaction_rate" in codes
    by_unit = {row[0]: dict(zip(codes, row, strict=True)) for row in body}
    assert set(by_unit) == set(counts)
    for unit, c in counts.items():
        row = by_unit[unit]
        assert row["tier"] == "县级"
        assert row["holds"] == c["holds"]  # October's requests left out
        assert row["satisfaction_rate"] == _rate(c["satisfied"], c["ratings"])
        assert row["intake_satisfaction_rate"] == _rate(c["intake_satisfied"], c["intake_ratings"])
        assert row["intake_ratings"] == c["intake_ratings"]
        assert row["response_rate"] == _rate(c["responded_on_time"], c["response_measured"])
        assert row["reminders"] == c["reminders"] and row["reprimands"] == c["reprimands"]
    rate_cell = book["县级"].cell(row=3, column=codes.index("satisfaction_rate") + 1)
    assert rate_cell.number_format == "0.0%"


def test_a_unit_with_no_stay_begun_in_the_month_is_on_its_tier_sheet(
    db_url: str, tmp_path: Path
) -> None:
    """Rated in November for a stay begun in October: the unit counts in the month, on the
    county sheet too (it was on the 汇总 sheet alone)."""
    engine = make_engine(db_url)
    unit = COUNTY_UNITS[0]
    _list_in_directory(engine, [unit])
    f = RecordFactory(make_request("req-month-edge"), datetime(2026, 10, 30, 2, tzinfo=UTC))
    begun = [f.submitted(), f.assigned(unit.id)]
    f.now = datetime(2026, 11, 5, 2, tzinfo=UTC)
    TransitionWriter(engine).persist([*begun, f.resolved(), f.rated(2)])
    engine.dispose()
    out = tmp_path / "edge.xlsx"
    env = {"TIERFLOW_DATABASE_URL": db_url} | language_env()
    args = ["reports", "monthly", "--month", "2026-11", "--out", str(out)]
    assert CliRunner().invoke(cli_app, args, env=env).exit_code == 0
    rows = list(load_workbook(out)["县级"].iter_rows(values_only=True))
    codes = rows[1]
    [row] = [dict(zip(codes, r, strict=True)) for r in rows[2:]]
    assert (row["institution_id"], row["holds"], row["ratings"]) == (unit.id, 0, 1)


def test_a_bad_month_or_file_name_is_refused(db_url: str, tmp_path: Path) -> None:
    env = {"TIERFLOW_DATABASE_URL": db_url} | language_env()
    runner = CliRunner()
    bad = runner.invoke(
        cli_app,
        ["reports", "monthly", "--month", "2026-13", "--out", str(tmp_path / "a.xlsx")],
        env=env,
    )
    assert bad.exit_code == 1 and "未生成：月份：'2026-13' 不是 YYYY-MM 格式" in bad.output
    csv = runner.invoke(
        cli_app,
        ["reports", "monthly", "--month", "2026-11", "--out", str(tmp_path / "a.csv")],
        env=env,
    )
    assert csv.exit_code == 2 and "须以 .xlsx 结尾" in csv.output
    english = runner.invoke(
        cli_app,
        ["reports", "monthly", "--month", "2026-11", "--out", str(tmp_path / "a.csv")],
        env=env | language_env("en"),
    )
    assert english.exit_code == 2 and "must end in .xlsx" in english.output


def test_a_leads_file_holds_the_institutions_of_the_region(db_url: str, tmp_path: Path) -> None:
    """--region 330000: Zhejiang's institutions only, with their figures added up per tier."""
    engine = make_engine(db_url)
    records, counts = _corpus(
        seed=33, n=90, start=datetime(2026, 11, 10, 1, 30, tzinfo=UTC), units=WIDE
    )
    writer = TransitionWriter(engine)
    for rec in records:
        writer.persist(rec)
    _list_in_directory(engine, WIDE)
    engine.dispose()
    zhejiang = {u.id for u in WIDE if u.division is not None and u.division.startswith("33")}
    out = tmp_path / "考核月报-浙江.xlsx"
    result = CliRunner().invoke(
        cli_app,
        ["reports", "monthly", "--month", "2026-11", "--out", str(out), "--region", "330000"],
        env={"TIERFLOW_DATABASE_URL": db_url} | language_env("en"),
    )
    assert result.exit_code == 0, result.output
    assert f"{len(zhejiang & set(counts))} institutions, 2026-11" in result.output
    book = load_workbook(out)
    about = {row[0]: row[1] for row in book["说明"].iter_rows(values_only=True)}
    assert about["地区"] == "330000 浙江省"
    listed = {
        row[0]
        for name in book.sheetnames[2:]
        for row in book[name].iter_rows(min_row=3, values_only=True)
    }
    assert listed == zhejiang & set(counts)
    ours = {unit: c for unit, c in counts.items() if unit in zhejiang}
    by_tier = _added_up(ours, "tier")
    totals = list(book["汇总"].iter_rows(values_only=True))
    codes = totals[1]
    rows = {row[0]: dict(zip(codes, row, strict=True)) for row in totals[2:]}
    names = {"county": "县级", "municipal": "市级", "provincial": "省级"}
    assert set(rows) == {names[t] for t in by_tier}
    for tier, c in by_tier.items():
        assert rows[names[tier]]["holds"] == c["holds"]
        assert rows[names[tier]]["satisfaction_rate"] == _rate(c["satisfied"], c["ratings"])


def test_an_unknown_region_is_refused_naming_it(db_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["reports", "monthly", "--month", "2026-11", "--out", str(tmp_path / "a.xlsx")]
        + ["--region", "339999"],
        env={"TIERFLOW_DATABASE_URL": db_url} | language_env("en"),
    )
    assert result.exit_code == 1 and "region: division code '339999'" in result.output
