"""The console's forms show each field's reason in the page's language.

The checks are the API's (``RequestInput``, ``ActionBody``), whose answers stay English; the
console reads a shared check's message (a ``TranslatableError``) and pydantic's kinds of
error in the catalog's language instead.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from api.console.forms import (
    detail_errors,
    joined,
    parse_action_body,
    parse_walk_in,
    reason,
)
from api.console.routes import OPTIONAL_TEXT, TEXT_LABELS
from api.lookup import not_found
from schemas.domain import State, Tier
from schemas.edge import ACTION_TEXT_BYTES
from schemas.enterprise import registering_division
from schemas.lifecycle import (
    TEXT_REQUIRED,
    ActionKind,
    ActionRequest,
    Supervision,
    TargetAnswer,
    TargetCheck,
    WorkflowState,
)
from schemas.messages import N_, PYDANTIC_REASONS, Said
from schemas.request import SYSTEM_ACTOR, RequestInput
from tests.utils.factories import make_request, make_uscc
from tierflow.directory import Directory
from tierflow.i18n import translations
from tierflow.i18n.refusals import refusal_text
from tierflow.policy import load_policy_file
from workflows import chasing, rules
from workflows import views as workflow_views
from workflows.refusals import field_of, reason_of, refused

ZH, EN = translations("zh-CN"), translations("en")
GOOD_USCC = make_uscc("330106", random.Random("forms"))


def walk_in(**fields: str) -> dict[str, str]:
    form = {
        "enterprise.uscc": GOOD_USCC,
        "enterprise.name": "杭州启明精密机械有限公司",
        "enterprise.division_code": "330106",
        "category": "financing",
        "subject": "流动资金贷款对接",
        "enterprise.contact_phone": "13800000000",
    }
    return form | fields


def test_a_good_walk_in_form_builds_the_apis_request() -> None:
    _, request, errors = parse_walk_in(walk_in(), ZH)
    assert errors == {} and isinstance(request, RequestInput)
    assert request.channel == "walk-in" and request.request_id.startswith("walkin-")


def test_a_walk_in_leaves_a_phone_or_an_e_mail_to_hear_of_its_request_by() -> None:
    """At the window the enterprise is there to ask: registered without either, it would hear
    nothing (no 受理告知, no request for materials, no conclusion)."""
    _, request, errors = parse_walk_in(walk_in(**{"enterprise.contact_phone": ""}), ZH)
    assert request is None
    assert errors == {
        "enterprise.contact_phone": "请填写联系电话或电子邮箱：企业通过它们获知办理进展"
    }
    by_mail = walk_in(**{"enterprise.contact_phone": "", "enterprise.contact_email": "w@a.cn"})
    assert parse_walk_in(by_mail, ZH)[1] is not None
    bad_uscc = walk_in(**{"enterprise.contact_phone": "", "enterprise.uscc": "X"})
    assert set(parse_walk_in(bad_uscc, EN)[2]) == {"enterprise.uscc", "enterprise.contact_phone"}


def test_a_walk_in_without_a_division_takes_the_one_its_uscc_was_registered_in() -> None:
    """Characters 3-8 of a USCC are its registering authority's division (GB 32100-2015): a
    window caseworker need not look the code up; one typed in (a moved enterprise) stands."""
    values, request, errors = parse_walk_in(walk_in(**{"enterprise.division_code": ""}), ZH)
    assert errors == {} and request is not None
    assert request.enterprise.division_code == "330106"
    assert values["enterprise.division_code"] == "330106"  # the form shows what was taken
    moved = parse_walk_in(walk_in(**{"enterprise.division_code": "330105"}), ZH)[1]
    assert moved is not None and moved.enterprise.division_code == "330105"
    # an invalid USCC gives none: its own reason is shown, and the division is asked for
    bad = GOOD_USCC[:17] + ("X" if GOOD_USCC[17] != "X" else "Y")
    _, _, errors = parse_walk_in(
        walk_in(**{"enterprise.uscc": bad, "enterprise.division_code": ""}), ZH
    )
    assert set(errors) == {"enterprise.uscc", "enterprise.division_code"}


def test_registering_division_knows_only_divisions_of_the_data() -> None:
    assert registering_division(GOOD_USCC.lower()) == "330106"
    unknown = make_uscc("339999", random.Random("forms"))
    assert registering_division(unknown) is None
    retired = make_uscc("330103", random.Random("forms"))  # 下城区, now part of 拱墅区
    assert registering_division(retired) == "330103"  # routed by its successor, as typed
    assert registering_division("not a uscc") is None


def test_walk_in_reasons_are_chinese_on_a_chinese_page() -> None:
    bad_uscc = GOOD_USCC[:17] + ("X" if GOOD_USCC[17] != "X" else "Y")
    form = walk_in(
        **{
            "enterprise.uscc": bad_uscc,
            "enterprise.name": "杭州\x01启明",
            "enterprise.contact_email": "a@example.org, b@example.org",
            "category": "loans",
            "subject": "",
            "description": "贷" * 10_001,
            "request_id": "walk in",
        }
    )
    _, request, errors = parse_walk_in(form, ZH)
    assert request is None
    assert errors == {
        "enterprise.uscc": f"第 18 位校验码为 '{bad_uscc[17]}'，应为 '{GOOD_USCC[17]}'",
        "enterprise.name": "第 3 个字符是控制字符 U+0001，不允许（只允许制表符、换行符和回车符）",
        "enterprise.contact_email": "须为一个电子邮箱地址，例如 name@example.org",
        "category": "须为以下之一：financing、digital_transformation、technology_transfer、"
        "talent、overseas_expansion、certification、policy_consultation、other",
        "subject": "此项为必填项",
        "description": "文字过长：UTF-8 编码共 30003 字节，上限 30000 字节（一个汉字占 3 字节）",
        "request_id": "格式不符合要求",
    }


def test_walk_in_reasons_are_the_apis_english_on_an_english_page() -> None:
    form = walk_in(**{"subject": "", "enterprise.contact_email": "a@example.org; b@x.org"})
    _, _, errors = parse_walk_in(form, EN)
    assert errors == {
        "subject": "this field is required",
        "enterprise.contact_email": "must be an e-mail address such as name@example.org",
    }


def test_action_form_reasons_are_translated() -> None:
    body, errors = parse_action_body({"text": "请\x00补充", "rating": "9"}, ZH)
    assert body is None
    assert errors == {
        "text": "第 2 个字符是控制字符 U+0000，不允许（只允许制表符、换行符和回车符）",
        "rating": "不能大于 5",
    }
    body, errors = parse_action_body({"text": "办" * (ACTION_TEXT_BYTES // 3 + 1)}, ZH)
    assert body is None and errors["text"].startswith("文字过长：UTF-8 编码共 30003 字节")


@pytest.mark.parametrize("kind", sorted(PYDANTIC_REASONS))
def test_every_kind_of_error_reads_in_chinese(kind: str) -> None:
    context = {"min_length": 1, "max_length": 2, "ge": 1, "le": 5, "expected": "'a' or 'b'"}
    said = reason({"type": kind, "msg": "English", "ctx": context}, ZH)
    assert said != "English" and any("\u4e00" <= c <= "\u9fff" for c in said), said


def test_an_unexpected_kind_of_error_keeps_pydantics_words() -> None:
    with pytest.raises(ValidationError) as caught:
        RequestInput.model_validate({"request_id": "r-1", "attachments": "x"})
    item = next(e for e in caught.value.errors() if e["loc"] == ("attachments",))
    assert reason(item, ZH) == item["msg"]  # a list's type: no form sends it


def test_a_refusal_reads_in_chinese_with_the_codes_in_chinese_words() -> None:
    """The workflow words a refusal as a catalog message; the console reads it with its
    codes (action, state, tier) and instants as a Chinese reader knows them."""
    case = WorkflowState(request=make_request(), state=State.ACKNOWLEDGED)
    action = ActionRequest(action_id="a-1", kind=ActionKind.ACKNOWLEDGE, actor=SYSTEM_ACTOR)
    said = rules.transition_refusal(action, case.state, Tier.COUNTY, "zj-330106-sme", False)
    assert isinstance(said, Said)
    assert str(said).startswith("cannot acknowledge a request in state acknowledged (allowed")
    text = refusal_text(said, ZH)
    assert text.startswith("工单当前状态为「已受理」，不能执行「受理」（可在以下状态执行：已派单）")
    assert refusal_text(said, EN) == str(said)  # English pages: the API's words

    at = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    signed = Said(N_("cannot sign for: %(institution)s signed for it at %(at)s"),
                  institution="zj-330106-sme", at=at.isoformat())  # fmt: skip
    assert refusal_text(signed, ZH) == "不能签收：zj-330106-sme 已于 2026年12月1日 14:30 签收"
    # a reader in English reads the instant in China's time too, not the workflow's UTC
    english = refusal_text(signed, EN)
    assert english.startswith("cannot sign for: zj-330106-sme signed for it at ")
    assert "06:30" not in english and "+00:00" not in english and "14:30" in english
    late = Said(N_("%(institution)s (due %(at)s)"), institution="x", at=at.isoformat())
    listed = Said(N_("cannot resolve: co-handling parts are open: %(parts)s; the co-handler "
                     "concludes its part or a supervisor waives it"), parts=late)  # fmt: skip
    assert "14:30" in refusal_text(listed, EN) and "+00:00" not in refusal_text(listed, EN)
    # a 督办's reply deadline (``due``) too
    owed = Supervision(
        opened_at=at, opened_by="sup-city", reason="x", clock=None,
        institution_id="zj-330106-sme", reply_due_at=at,
    )  # fmt: skip
    again = chasing.repeat_refusal([owed], "zj-330106-sme")
    assert isinstance(again, Said)
    zh = refusal_text(again, ZH)
    assert zh.count("2026年12月1日 14:30") == 2 and "+00:00" not in zh, zh


def test_a_refusal_travels_from_the_workflow_to_the_console_as_its_message() -> None:
    said = Said(N_("cannot %(kind)s: no appeal waits for a decision"), kind="uphold_appeal")
    error = refused(said, "InvalidTransition")
    assert (error.message, error.type) == (str(said), "InvalidTransition")
    assert error.non_retryable and field_of(error) is None
    back = reason_of(error)
    assert isinstance(back, Said) and back == said and back.message == said.message
    assert refusal_text(back, ZH) == "不能执行「申诉成立」：没有待决定的申诉"
    # a wording that does not render the English text: the English text, nothing else
    odd = {"message": said.message, "values": {"other": "x"}, "field": None}
    unfit = ApplicationError(str(said), odd, type="InvalidTransition")
    assert not isinstance(reason_of(unfit), Said) and reason_of(unfit) == str(said)
    plain = refused("the request is busy", "InvalidTransition")
    assert plain.details == ({"field": None},) and not isinstance(reason_of(plain), Said)


def test_a_refused_target_names_its_field_and_reads_in_chinese() -> None:
    check = TargetCheck(
        institution_id="zj-330199-x", tier=Tier.COUNTY, category=None, region_prefix=""
    )
    answer = Directory.load().check_target(check)
    reason = answer.reason()
    assert reason == "institution_id: zj-330199-x is not in the directory"
    error = refused(reason or "", "InvalidTarget", field="institution_id")
    assert field_of(error) == "institution_id"
    back = reason_of(error)
    assert isinstance(back, Said) and refusal_text(back, ZH) == "机构 zj-330199-x 不在机构名录中"
    # an answer recorded before answers carried their wording: its English text
    assert TargetAnswer(refusal=str(reason)).reason() == str(reason)


def test_an_answer_worded_as_a_catalog_message_reads_in_the_pages_language() -> None:
    missing = not_found("req-1")
    assert missing.detail == "request 'req-1' not found"  # the API's words
    assert detail_errors(missing.detail, ZH) == ("找不到工单 'req-1'（或不在您的办理范围内）", {})
    assert detail_errors(missing.detail, EN) == ("request 'req-1' not found", {})
    assert detail_errors("plain words", ZH) == ("plain words", {})


def test_every_action_that_needs_a_text_has_a_text_field() -> None:
    """An action the API refuses without ``text`` gets a form with a labelled text field, not
    a bare button (a reply to a supervision could not be sent from the console)."""
    assert set(TEXT_REQUIRED) == set(TEXT_LABELS) - OPTIONAL_TEXT


def test_an_error_line_names_fields_as_the_form_does() -> None:
    """A refused action's line reads 工作日数：不能大于 60, not the API's days：…"""
    zh, en = translations("zh-CN"), translations("en")
    errors = {"days": "不能大于 60", "idempotency_key": "须为 1-128 个字符", "odd": "x"}
    assert joined(errors, zh) == "工作日数：不能大于 60；表单标识：须为 1-128 个字符；odd：x"
    assert joined({"days": "at most 60"}, en) == "Working days: at most 60"


def test_a_case_page_says_which_deadlines_rest_on_an_estimated_calendar() -> None:
    """A request pinned a calendar whose 2027 days off were not published yet: a pending
    deadline in 2027 (China time) is named as resting on the estimate; one in 2026 is not."""
    case = WorkflowState(request=make_request(), state=State.ACKNOWLEDGED)
    view = workflow_views.request_view(case, datetime(2026, 12, 20, tzinfo=UTC))
    assert workflow_views.estimated_years_ahead(view) == []  # no calendar, no clocks
    estimated = view.model_copy(
        update={
            "calendar_estimated_years": [2027, 2028],
            "suspended_until": datetime(2026, 12, 31, 17, 0, tzinfo=UTC),  # 1 Jan 01:00 China
            "follow_up_due_at": datetime(2026, 12, 30, 2, 0, tzinfo=UTC),
        }
    )
    assert workflow_views.estimated_years_ahead(estimated) == [2027]
    # past the calendar's last year only weekends are off: that year is an estimate too
    calendar = load_policy_file().calendar_for(2026)  # 2026-2028
    beyond = estimated.model_copy(
        update={
            "calendar": calendar,
            "calendar_estimated_years": [],
            "suspended_until": datetime(2029, 1, 3, 2, 0, tzinfo=UTC),
            "follow_up_due_at": datetime(2028, 12, 29, 2, 0, tzinfo=UTC),
        }
    )
    assert calendar.last_year == 2028
    assert workflow_views.estimated_years_ahead(beyond) == [2029]
