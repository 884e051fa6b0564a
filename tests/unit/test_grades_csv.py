"""Published grade lists: every problem named by line and field; Chinese headers and names."""

from __future__ import annotations

import random
from datetime import date

import pytest

from schemas.domain import Grade
from tierflow.csv_text import BOM, decode, to_csv
from tierflow.db.grade_models import NAME_LENGTH, GradeLevel
from tierflow.grades_csv import GradeListError, parse
from tierflow_dev.demo import make_uscc

GOOD = make_uscc("330106", random.Random(1))
OTHER = make_uscc("320581", random.Random(2))
BAD_CHECK = GOOD[:17] + ("0" if GOOD[17] != "0" else "1")
HEADER = "uscc,enterprise_name,grade,level,recognised_by,granted_on,valid_until\n"


def problems(text: str) -> list[str]:
    with pytest.raises(GradeListError) as caught:
        parse(text)
    return caught.value.problems


def test_a_valid_list_in_english() -> None:
    [row] = parse(
        HEADER + f"{GOOD},启明科技,little_giant,national,工业和信息化部,2025-07-01,2028-06-30\n"
    )
    assert (row.uscc, row.grade, row.level) == (GOOD, Grade.LITTLE_GIANT, GradeLevel.NATIONAL)
    assert (row.granted_on, row.valid_until) == (date(2025, 7, 1), date(2028, 6, 30))


def test_a_list_as_published_with_chinese_headers_and_names() -> None:
    text = (
        "统一社会信用代码,企业名称,等级,级别,认定单位,认定日期,有效期至\n"
        f"{GOOD.lower()},启明科技,专精特新“小巨人”企业,国家级,工业和信息化部,2025/7/1,2028/6/30\n"
        f"{OTHER},常熟精工,专精特新中小企业,省级,江苏省工业和信息化厅,2024-12-20,\n"
    )
    first, second = parse(BOM + text)
    assert (first.uscc, first.grade, first.level) == (GOOD, Grade.LITTLE_GIANT, GradeLevel.NATIONAL)
    assert (second.grade, second.level, second.valid_until) == (
        Grade.SPECIALIZED_NEW,
        GradeLevel.PROVINCIAL,
        None,
    )


def test_every_bad_line_is_named_with_its_field() -> None:
    text = HEADER + (
        f"{BAD_CHECK},甲,little_giant,national,工信部,2025-07-01,2028-06-30\n"
        f"{GOOD},乙,giant,national,工信部,2025-07-01,\n"
        f"{GOOD},丙,innovative,city,工信部,2025-07-01,\n"
        f"{OTHER},丁,innovative,provincial,浙江省经信厅,2025-07-01,2024-06-30\n"
        f"{OTHER},戊,innovative,provincial,,2025-02-30,\n"
    )
    found = problems(text)
    expected_check = f"line 2: uscc: USCC check character at position 18 is {BAD_CHECK[17]!r}"
    assert found[0].startswith(expected_check)
    assert found[1].startswith("line 3: grade: unknown grade 'giant' (allowed: ")
    assert found[2].startswith("line 4: level: unknown level 'city' (allowed: ")
    assert found[3] == "line 5: valid_until: 2024-06-30 is before granted_on 2025-07-01"
    assert found[4] == "line 6: recognised_by: missing"
    assert found[5].startswith("line 6: granted_on: '2025-02-30' is not a date")
    assert len(found) == 6


def test_a_name_longer_than_its_column_is_the_lines_problem() -> None:
    """Not the database's refusal at the end of an import (PostgreSQL counts characters)."""
    name, unit = "启" * (NAME_LENGTH + 1), "工" * NAME_LENGTH
    found = problems(HEADER + f"{GOOD},{name},innovative,national,{unit}x,2025-07-01,\n")
    assert found == [
        f"line 2: enterprise_name: String should have at most {NAME_LENGTH} characters",
        f"line 2: recognised_by: String should have at most {NAME_LENGTH} characters",
    ]
    [row] = parse(HEADER + f"{GOOD},{name[1:]},innovative,national,{unit},2025-07-01,\n")
    assert (row.enterprise_name, row.recognised_by) == (name[1:], unit)


def test_header_duplicates_and_withdrawals_are_checked() -> None:
    assert problems("uscc,grade,level\n") == [
        "line 1: header: column 'recognised_by' missing",
        "line 1: header: column 'granted_on' missing",
    ]
    line = f"{GOOD},甲,innovative,provincial,浙江省经信厅,2025-07-01,\n"
    assert problems(HEADER + line + line) == ["line 3: the same recognition as line 2"]
    withdrawn = HEADER.strip() + ",withdrawn_on\n" + line.strip() + ",2026-01-01\n"
    assert problems(withdrawn) == ["line 2: withdrawal_reason: missing (withdrawn_on is set)"]


def test_export_text_opens_in_excel_and_runs_no_formula() -> None:
    text = to_csv(["name"], [['=HYPERLINK("x")'], ["启明"], [None]])
    assert text.startswith(BOM) and "'=HYPERLINK" in text and "启明" in text
    assert decode(text.encode("utf-8")) == text[1:]
    assert decode("统一社会信用代码".encode("gb18030")) == "统一社会信用代码"


def test_a_quoted_cell_reads_back_as_it_was() -> None:
    [row] = parse(HEADER + f"{GOOD},'=启明科技,little_giant,national,'+工信部,2025-07-01,\n")
    assert (row.enterprise_name, row.recognised_by) == ("=启明科技", "+工信部")
