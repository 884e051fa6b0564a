"""The monthly 考核 report for institutions' leads: one spreadsheet (.xlsx) per month.

A sheet 说明 (what the file holds and for which days), a sheet 汇总 with the figures added up
per tier, then one sheet per tier with every institution that had something to assess in the
month: a Chinese header row, the API's field names under it, one row per institution. The
figures are ``tierflow.assessment``'s, over the calendar month in China time, for the whole
network or, for a lead, the institutions the directory places in one region (a province, city
or county division code).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from schemas.divisions import DIVISION_INFO, check_known_division
from schemas.domain import Tier
from schemas.enterprise import validate_division_code
from schemas.permissions import division_prefix
from tierflow import assessment
from tierflow.db.models import InstitutionRow
from tierflow.directory import full_name
from tierflow.grades import SHANGHAI
from tierflow.i18n import N_, TranslatableError, translations
from tierflow.i18n.labels import figure_label, label

ID_COLUMNS = (("机构编号", "institution_id"), ("机构名称", "name"), ("层级", "tier"))
TIER_VALUES = {tier.value for tier in Tier}


def month_period(month: str) -> tuple[datetime, datetime]:
    """The calendar month ``YYYY-MM`` in China time: its first instant and its last."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise TranslatableError(N_("month: %(month)r is not YYYY-MM"), month=month) from None
    following = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, time(0), SHANGHAI)
    return start, datetime.combine(following, time(0), SHANGHAI) - timedelta(microseconds=1)


def _names(engine: Engine, ids: list[str]) -> dict[str, str]:
    with Session(engine) as session:
        query = select(InstitutionRow.id, InstitutionRow.name).where(
            col(InstitutionRow.id).in_(ids)
        )
        return dict(session.exec(query).all())


def check_region(region: str) -> str:
    """The region if it is a division code of the division data; else ValueError naming it."""
    try:
        return check_known_division(validate_division_code(region))
    except ValueError as exc:
        reason = exc if isinstance(exc, TranslatableError) else str(exc)
        raise TranslatableError(N_("region: %(reason)s"), reason=reason) from None


def in_region(engine: Engine, region: str) -> set[str]:
    """The institutions the directory places in ``region`` (a division code) or below it."""
    prefix = division_prefix(region)
    with Session(engine) as session:
        query = select(InstitutionRow.id).where(
            col(InstitutionRow.division_code).startswith(prefix)
        )
        return set(session.exec(query).all())


def write_monthly(
    engine: Engine,
    month: str,
    out: Path,
    now: datetime | None = None,
    region: str | None = None,
) -> int:
    """Write the month's report to ``out``; return the number of institutions in it."""
    start, end = month_period(month)
    tallies = assessment.tally(engine, [], (start, end))
    if region is not None:
        kept = in_region(engine, region)
        tallies = {unit: t for unit, t in tallies.items() if unit in kept}
    names = _names(engine, list(tallies))
    zh = translations("zh-CN")
    book = Workbook()
    about = book.active
    assert about is not None
    about.title = "说明"
    made = (now or datetime.now(UTC)).astimezone(SHANGHAI)
    for line in (
        ("考核月报", f"{month}"),
        ("统计期间（北京时间）", f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d}"),
        ("生成时间", f"{made:%Y-%m-%d %H:%M}"),
        ("地区", f"{region} {full_name(region)}" if region in DIVISION_INFO else "全国"),
        ("机构数", len(tallies)),
        (
            "口径",
            "承办按开始时间、事件按发生时间、评价按作出时间计入本月；申诉成立的评价不计；"
            "满意率只计办结评价，受理评价另计受理满意率。",
        ),
        ("比率", "无可统计时为空，不按 100% 计。"),
        (
            "数据时点",
            "截至生成时间的数据。月末前开始、月末后才签收、响应或办结的承办，其结果在生成后"
            "才计入本月，故月报在本月承办全部了结前生成时可能与之后重新生成的不同；"
            "对外公布的月报请保存本文件，以生成时间为准。",
        ),
    ):
        about.append(line)
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 70
    figures = assessment.FIGURES
    zh_header = [zh_name for zh_name, _ in ID_COLUMNS] + [figure_label(f, zh) for f in figures]
    en_header = [code for _, code in ID_COLUMNS] + list(figures)
    totals = book.create_sheet("汇总")
    totals.append(["层级", *(figure_label(f, zh) for f in figures)])
    totals.append(["tier", *figures])
    for key, entry in assessment.regroup(engine, tallies, "tier").items():
        values = entry.figures()
        tier_name = label(Tier(key), zh) if key in TIER_VALUES else "名录中无此机构"
        totals.append([tier_name, *(values[f] for f in figures)])
    _style(totals, figures, first_figure_column=2)
    for tier in Tier:
        rows = [(unit, t) for unit, t in tallies.items() if t.tier is tier]
        if not rows:
            continue
        sheet = book.create_sheet(label(tier, zh))
        sheet.append(zh_header)
        sheet.append(en_header)
        for unit, entry in rows:
            values = entry.figures()
            sheet.append(
                [unit, names.get(unit, ""), label(tier, zh), *(values[f] for f in figures)]
            )
        _style(sheet, figures, first_figure_column=len(ID_COLUMNS) + 1)
        sheet.freeze_panes = "D3"
        sheet.column_dimensions["A"].width = 18
        sheet.column_dimensions["B"].width = 28
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return len(tallies)


def _style(sheet: Any, figures: tuple[str, ...], first_figure_column: int) -> None:
    """Bold Chinese headers, grey field names under them, rates as percentages."""
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for cell in sheet[2]:
        cell.font = Font(italic=True, color="666666")
    for index, name in enumerate(figures, start=first_figure_column):
        if name in assessment.RATES:
            for (cell,) in sheet.iter_rows(min_row=3, min_col=index, max_col=index):
                cell.number_format = "0.0%"
