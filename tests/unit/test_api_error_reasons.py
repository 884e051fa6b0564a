"""A 422's items carry their reason worded for translation (``reason``), so that a client
such as the CLI reads every field's reason in its reader's language, not only the API's
English ``msg``."""

from __future__ import annotations

import json
import random

from pydantic import ValidationError

from api.errors import describe
from api.models import ActionBody
from schemas.lifecycle import ActionKind, ActionRequest, Wording, missing_field
from schemas.request import SYSTEM_ACTOR, RequestInput
from tests.utils.factories import make_uscc
from tierflow.i18n import translations
from tierflow.i18n.refusals import item_text

ZH, EN = translations("zh-CN"), translations("en")


def as_received(errors: list) -> list[dict]:
    """The items as a client gets them: through JSON."""
    return json.loads(json.dumps(describe(errors)))


def bad_submission() -> ValidationError:
    good = make_uscc("330106", random.Random("reasons"))
    data = {
        "request_id": "r 1",
        "enterprise": {
            "uscc": good[:17] + ("X" if good[17] != "X" else "Y"),
            "name": "杭州启明",
            "division_code": "330106",
        },
        "category": "loans",
        "subject": "流动资金贷款",
    }
    try:
        RequestInput.model_validate(data)
    except ValidationError as exc:
        return exc
    raise AssertionError("the submission was accepted")


def test_every_item_of_a_bad_submission_reads_in_chinese() -> None:
    items = {item["field"]: item for item in as_received(bad_submission().errors())}
    assert set(items) == {"enterprise.uscc", "category", "request_id"}
    assert all("reason" in item for item in items.values())
    uscc = item_text(items["enterprise.uscc"], ZH)
    assert uscc.startswith("第 18 位校验码为 ")
    category = item_text(items["category"], ZH)
    assert category.startswith("须为以下之一：financing、digital_transformation、")
    assert category.endswith("、other")
    assert item_text(items["request_id"], ZH) == "格式不符合要求"
    # English readers get our words too; the machine's msg stays pydantic's
    assert item_text(items["category"], EN).startswith("must be one of: financing, ")
    assert items["category"]["msg"].startswith("Input should be 'financing'")


def test_a_missing_field_reads_with_its_action_and_what_it_holds() -> None:
    name, why = missing_field(ActionKind.RESOLVE, ActionBody()) or ("", "")
    assert (name, why) == ("text", "required for resolve: the resolution")
    [item] = as_received([{"loc": ("body", name), "msg": why, "type": "value_error"}])
    assert item_text(item, ZH) == "办结须填写办理结果"  # the action's and the holding's words
    assert item_text(item, EN) == "required for resolve: the resolution"
    try:
        ActionRequest(action_id="a-1", kind=ActionKind.RATE, actor=SYSTEM_ACTOR)
    except ValidationError as exc:
        [rating] = as_received(exc.errors())
    assert rating["msg"] == "Value error, rating is required for rate: 1-5"  # as before
    assert rating["field"] == "rating"  # the model's own check names the field it is about
    assert item_text(rating, ZH) == "登记评价须填写评分（1 至 5 分）"


def test_a_missing_code_names_the_codes_it_may_be() -> None:
    """A return without its reason said only "why, as a code": the caller had to look them up."""
    name, why = missing_field(ActionKind.RETURN, ActionBody(text="不属于本单位")) or ("", "")
    codes = "not_our_remit, outside_region, duplicate, other"
    assert (name, why) == ("return_reason", f"required for return: why, as one of {codes}")
    [item] = as_received([{"loc": ("body", name), "msg": why, "type": "value_error"}])
    assert item_text(item, ZH) == f"退单须填写原因代码，取 {codes.replace(', ', '、')} 之一"
    _, why = missing_field(ActionKind.SUSPEND, ActionBody(text="等待检测报告", days=5)) or ("", "")
    assert why.endswith("one of third_party, legal_procedure, force_majeure, other")


def test_a_wording_inside_another_survives_the_json_and_renders_the_english() -> None:
    name, why = missing_field(ActionKind.SUSPEND, ActionBody(text="等待检测报告")) or ("", "")
    wording = Wording.of(why)
    assert wording is not None and isinstance(wording.values["what"], Wording)
    back = Wording.model_validate(json.loads(wording.model_dump_json()))
    assert back == wording and back.said(why) == why
    assert back.said("something else") == "something else"  # a wording of another text


def test_an_item_without_a_wording_that_fills_keeps_its_msg() -> None:
    assert item_text({"field": "x", "msg": "plain"}, ZH) == "plain"
    broken = {"msg": "plain", "reason": {"message": "needs %(value)s", "values": {}}}
    assert item_text(broken, ZH) == "plain"
    assert item_text({"msg": "plain", "reason": "not a wording"}, ZH) == "plain"


def test_a_check_of_the_fields_together_names_its_field_and_reads_in_chinese() -> None:
    """An unsatisfied follow-up without text fails the action's check of its fields together
    (pydantic places it at the model): the 422 still names ``text``."""
    try:
        ActionRequest(
            action_id="a-1",
            kind=ActionKind.FOLLOW_UP,
            actor=SYSTEM_ACTOR,
            outcome="unsatisfied",
            text=" ",
        )
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        [item] = as_received(errors)
    assert item["field"] == "text"
    assert item["msg"] == (
        "Value error, text is required for an unsatisfied follow-up: what is not solved"
    )
    assert item_text(item, ZH) == "回访结果为不满意时须填写：哪些问题未解决"
