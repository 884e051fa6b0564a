"""A refused action form comes back as it was sent: the choice made (回访结果, 退单 reason)
and the text typed, with the reason in Chinese by its field (the model's own check, worded
for the catalog, not pydantic's English); rendered in zh-CN."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from api.console.forms import detail_errors
from api.errors import validation_http_error
from schemas.domain import State
from schemas.lifecycle import ActionKind, ActionRequest, FollowUpOutcome, ReturnReason
from tests.unit.test_console_next_deadline import COUNTY, NOW
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import case_page_context, county_case
from tests.utils.factories import caseworker
from tierflow.i18n import translations

ZH = translations("zh-CN")


def test_an_unsatisfied_follow_up_without_text_is_refused_in_chinese() -> None:
    with pytest.raises(ValidationError) as caught:
        ActionRequest(
            action_id="a-1",
            kind=ActionKind.FOLLOW_UP,
            actor=caseworker(COUNTY.id),
            outcome="unsatisfied",
        )
    message, fields = detail_errors(validation_http_error(caught.value, ("body",)).detail, ZH)
    assert set(fields) == {"text"}
    assert "unsatisfied" not in fields["text"] and "不满意" in fields["text"], fields


def _chosen(html: str, select_id: str) -> list[str]:
    select = html.split(f'id="{select_id}"')[1].split("</select>")[0]
    return re.findall(r'<option value="([^"]+)" selected>', select)


@pytest.mark.parametrize(
    ("kind", "select_id", "field", "value"),
    [
        (ActionKind.FOLLOW_UP, "o-follow_up", "outcome", "unsatisfied"),
        (ActionKind.RETURN, "rr-return", "return_reason", "outside_region"),
    ],
)
def test_the_refused_form_keeps_its_choice_and_text(
    kind: ActionKind, select_id: str, field: str, value: str
) -> None:
    case = county_case(NOW, State.RESOLVED, COUNTY)
    form = {"kind": kind, "text_label": "说明", "dangerous": False, "confirm": None}
    context = case_page_context(
        case,
        NOW,
        actions=[{**form, "text_optional": False, "key": "console-k"}],
        failed=kind,
        values={field: value, "text": "企业说还没解决"},
        field_errors={"text": "说明：不满意的回访须说明"},
        follow_up_outcomes=list(FollowUpOutcome),
        return_reasons=list(ReturnReason),
    )
    html = render("case.html", **context)
    assert _chosen(html, select_id) == [value]  # not back on the first option
    assert "企业说还没解决</textarea>" in html
