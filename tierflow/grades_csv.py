"""Published grade lists as CSV: import with every problem named by line and field, export.

Columns (English or the lists' Chinese headers): ``uscc`` 统一社会信用代码, ``enterprise_name``
企业名称, ``grade`` 等级, ``level`` 级别, ``recognised_by`` 认定单位, ``granted_on`` 认定日期,
``valid_until`` 有效期至, and on export (import takes them too) ``withdrawn_on`` 撤销日期 and
``withdrawal_reason`` 撤销原因. Grades and levels may be written as the lists write them
(专精特新“小巨人”企业, 国家级). Nothing is written unless the whole file is valid.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date

from pydantic import ValidationError

from schemas.domain import Grade
from schemas.enterprise import validate_uscc
from tierflow.csv_text import to_csv
from tierflow.db.grade_models import EnterpriseGrade, EnterpriseGradeBase, GradeLevel

COLUMNS = (
    "uscc",
    "enterprise_name",
    "grade",
    "level",
    "recognised_by",
    "granted_on",
    "valid_until",
    "withdrawn_on",
    "withdrawal_reason",
)
REQUIRED = ("uscc", "grade", "level", "recognised_by", "granted_on")
HEADERS_ZH = {
    "统一社会信用代码": "uscc",
    "企业名称": "enterprise_name",
    "等级": "grade",
    "级别": "level",
    "认定单位": "recognised_by",
    "认定日期": "granted_on",
    "有效期至": "valid_until",
    "撤销日期": "withdrawn_on",
    "撤销原因": "withdrawal_reason",
}
GRADE_NAMES = {
    "innovative": Grade.INNOVATIVE,
    "创新型中小企业": Grade.INNOVATIVE,
    "specialized_new": Grade.SPECIALIZED_NEW,
    "专精特新中小企业": Grade.SPECIALIZED_NEW,
    "little_giant": Grade.LITTLE_GIANT,
    "专精特新小巨人企业": Grade.LITTLE_GIANT,
    "小巨人": Grade.LITTLE_GIANT,
}
LEVEL_NAMES = {
    "provincial": GradeLevel.PROVINCIAL,
    "省级": GradeLevel.PROVINCIAL,
    "national": GradeLevel.NATIONAL,
    "国家级": GradeLevel.NATIONAL,
}
_QUOTES = re.compile(r"[\s\"'“”‘’「」]")
_DATE = re.compile(r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})")


class GradeListError(ValueError):
    """The file is not a valid grade list; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _date(text: str) -> date:
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date ({exc})") from None


def _row(row: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    """Return the row's values and its problems as 'field: what is wrong'."""
    values: dict[str, object] = {}
    problems = [f"{name}: missing" for name in REQUIRED if not row.get(name)]
    named: dict[str, dict[str, Grade] | dict[str, GradeLevel]] = {
        "grade": GRADE_NAMES,
        "level": LEVEL_NAMES,
    }
    for name, text in row.items():
        if not text:
            continue
        try:
            if name == "uscc":
                values[name] = validate_uscc(text.upper())
            elif name in named:
                key = _QUOTES.sub("", text).lower()
                if key not in named[name]:
                    allowed = ", ".join(m.value for m in set(named[name].values()))
                    raise ValueError(f"unknown {name} {text!r} (allowed: {allowed})")
                values[name] = named[name][key]
            elif name in ("granted_on", "valid_until", "withdrawn_on"):
                values[name] = _date(text)
            else:
                values[name] = text
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    granted = values.get("granted_on")
    for name in ("valid_until", "withdrawn_on"):
        end = values.get(name)
        if isinstance(granted, date) and isinstance(end, date) and end < granted:
            problems.append(f"{name}: {end} is before granted_on {granted}")
    if values.get("withdrawn_on") and not values.get("withdrawal_reason"):
        problems.append("withdrawal_reason: missing (withdrawn_on is set)")
    return values, problems


def parse(text: str) -> list[EnterpriseGradeBase]:
    """Return the recognitions of a CSV grade list; raise GradeListError naming every problem."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [HEADERS_ZH.get(h.strip(), h.strip()) for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    problems = [f"line 1: header: column {c!r} missing" for c in missing]
    problems += [f"line 1: header: unknown column {h!r}" for h in unknown]
    if problems:
        raise GradeListError(problems)
    rows: list[EnterpriseGradeBase] = []
    seen: dict[tuple[object, ...], int] = {}
    for raw in reader:
        line = reader.line_num
        cells = dict(zip(header, raw.values(), strict=False))
        if not any((v or "").strip() for v in cells.values()):
            continue
        values, found = _row({k: (v or "").strip() for k, v in cells.items()})
        problems += [f"line {line}: {p}" for p in found]
        if found:
            continue
        try:
            item = EnterpriseGradeBase.model_validate(values)
        except ValidationError as exc:
            problems += [f"line {line}: {e['loc'][0]}: {e['msg']}" for e in exc.errors()]
            continue
        key = (item.uscc, item.grade, item.level, item.granted_on)
        if key in seen:
            problems.append(f"line {line}: the same recognition as line {seen[key]}")
            continue
        seen[key] = line
        rows.append(item)
    if problems:
        raise GradeListError(problems)
    return rows


def export(rows: Iterable[EnterpriseGrade]) -> str:
    """Return the registry as CSV for spreadsheets (UTF-8 with BOM), one recognition a line."""
    return to_csv(
        COLUMNS,
        (
            [
                r.uscc,
                r.enterprise_name,
                r.grade.value,
                r.level.value,
                r.recognised_by,
                r.granted_on,
                r.valid_until,
                r.withdrawn_on,
                r.withdrawal_reason,
            ]
            for r in rows
        ),
    )
