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
from tierflow.csv_text import to_csv, uncell
from tierflow.db.grade_models import EnterpriseGrade, EnterpriseGradeBase, GradeLevel
from tierflow.i18n import N_, Said, TranslatableError
from tierflow.i18n.labels import NC_

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
# A column as a problem names it: its code in English, the lists' own header in Chinese.
COLUMN_NAMES = {
    "uscc": NC_("grade list column", "uscc"),
    "enterprise_name": NC_("grade list column", "enterprise_name"),
    "grade": NC_("grade list column", "grade"),
    "level": NC_("grade list column", "level"),
    "recognised_by": NC_("grade list column", "recognised_by"),
    "granted_on": NC_("grade list column", "granted_on"),
    "valid_until": NC_("grade list column", "valid_until"),
    "withdrawn_on": NC_("grade list column", "withdrawn_on"),
    "withdrawal_reason": NC_("grade list column", "withdrawal_reason"),
}
_QUOTES = re.compile(r"[\s\"'“”‘’「」]")
_DATE = re.compile(r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})")


class GradeListError(ValueError):
    """The file is not a valid grade list; ``problems`` has one line per problem.

    Each problem is a ``Said``: English as a string (the error's message), in the operator's
    language through ``text()`` (the CLI).
    """

    def __init__(self, problems: list[Said]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def column(name: str) -> str:
    """A column's name as the problems say it (unknown columns as they are)."""
    return Said.term(*COLUMN_NAMES[name]) if name in COLUMN_NAMES else name


def _date(text: str) -> date:
    match = _DATE.fullmatch(text)
    if match is None:
        raise TranslatableError(N_("%(text)r is not a date (YYYY-MM-DD)"), text=text)
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise TranslatableError(N_("%(text)r is not a date (no such day)"), text=text) from None


def _row(row: dict[str, str]) -> tuple[dict[str, object], list[Said]]:
    """Return the row's values and its problems as 'field: what is wrong'."""
    values: dict[str, object] = {}
    problems = [
        Said(N_("%(column)s: missing"), column=column(name))
        for name in REQUIRED
        if not row.get(name)
    ]
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
                    allowed = ", ".join(sorted({m.value for m in named[name].values()}))
                    raise TranslatableError(
                        N_("unknown %(column)s %(text)r (allowed: %(allowed)s)"),
                        column=column(name),
                        text=text,
                        allowed=allowed,
                    )
                values[name] = named[name][key]
            elif name in ("granted_on", "valid_until", "withdrawn_on"):
                values[name] = _date(text)
            else:
                values[name] = uncell(text)  # as the export wrote it: '=… reads back as =…
        except ValueError as exc:
            reason = exc if isinstance(exc, TranslatableError) else str(exc)
            problems.append(Said(N_("%(column)s: %(reason)s"), column=column(name), reason=reason))
    granted = values.get("granted_on")
    for name in ("valid_until", "withdrawn_on"):
        end = values.get(name)
        if isinstance(granted, date) and isinstance(end, date) and end < granted:
            before = N_("%(column)s: %(end)s is before granted_on %(granted)s")
            problems.append(Said(before, column=column(name), end=end, granted=granted))
    if values.get("withdrawn_on") and not values.get("withdrawal_reason"):
        problems.append(Said(N_("withdrawal_reason: missing (withdrawn_on is set)")))
    return values, problems


def parse(text: str) -> list[EnterpriseGradeBase]:
    """Return the recognitions of a CSV grade list; raise GradeListError naming every problem."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [HEADERS_ZH.get(h.strip(), h.strip()) for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    problems = [Said(N_("line 1: header: column %(column)r missing"), column=c) for c in missing]
    problems += [Said(N_("line 1: header: unknown column %(column)r"), column=h) for h in unknown]
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
        problems += [Said(N_("line %(line)d: %(problem)s"), line=line, problem=p) for p in found]
        if found:
            continue
        try:
            item = EnterpriseGradeBase.model_validate(values)
        except ValidationError as exc:
            problems += [
                Said(  # pydantic's own words (English): the cells were checked above
                    N_("line %(line)d: %(column)s: %(reason)s"),
                    line=line,
                    column=column(str(e["loc"][0])),
                    reason=e["msg"],
                )
                for e in exc.errors()
            ]
            continue
        key = (item.uscc, item.grade, item.level, item.granted_on)
        if key in seen:
            same = N_("line %(line)d: the same recognition as line %(first)d")
            problems.append(Said(same, line=line, first=seen[key]))
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
