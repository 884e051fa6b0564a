"""The shared checks' messages: English as strings (logs, the API), the reader's language in
the CLI, with a message inside another read in the same language."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel, ValidationError

from schemas.enterprise import Uscc, validate_uscc
from schemas.messages import Said, TranslatableError
from tierflow.grades_csv import GradeListError, parse
from tierflow.i18n import translations
from tierflow.monthly_report import check_region

ZH, EN = translations("zh-CN"), translations("en")


def test_an_error_reads_english_as_a_string_and_chinese_through_the_catalog() -> None:
    with pytest.raises(TranslatableError) as caught:
        validate_uscc("91330106")
    assert str(caught.value) == "USCC must have 18 characters, got 8"
    assert caught.value.text(EN) == str(caught.value)
    assert caught.value.text(ZH) == "须为 18 位，实为 8 位"


def test_a_message_inside_another_is_read_in_the_same_language() -> None:
    with pytest.raises(TranslatableError) as caught:
        check_region("339999")
    assert str(caught.value).startswith("region: division code '339999' is not in the division")
    assert caught.value.text(ZH).startswith("地区：行政区划代码 '339999' 不在区划数据中")
    with pytest.raises(GradeListError) as refused:
        parse("uscc,grade,level,recognised_by,granted_on\n91330106,x,provincial,甲,2025-07-01\n")
    [uscc, grade] = refused.value.problems
    assert isinstance(uscc, Said) and uscc == "line 2: uscc: USCC must have 18 characters, got 8"
    assert uscc.text(ZH) == "第 2 行：统一社会信用代码：须为 18 位，实为 8 位"
    assert grade.text(ZH).startswith("第 2 行：等级：未知等级 'x'")
    assert str(refused.value) == f"{uscc}\n{grade}"


def test_the_api_sees_the_english_text_and_a_message_survives_pickling() -> None:
    class Body(BaseModel):
        uscc: Uscc

    with pytest.raises(ValidationError) as caught:
        Body(uscc="91330106")
    assert caught.value.errors()[0]["msg"] == "Value error, USCC must have 18 characters, got 8"
    said = Said("line %(line)d: %(problem)s", line=3, problem=Said("%(column)s: missing"))
    again = pickle.loads(pickle.dumps(said))
    assert again == said and again.values == said.values
