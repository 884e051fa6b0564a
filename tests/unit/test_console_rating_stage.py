"""The case page's rating form: while the request is open it rates the intake (受理评价)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.console.routes import rating_stages
from schemas.domain import State, Tier
from schemas.lifecycle import ActionKind, Institution, RatingStage
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import case_page_context, county_case
from workflows import views

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
COUNTY = Institution(
    id="county-330106", name="county centre", tier=Tier.COUNTY, division_code="330106"
)


def case_page(state: State) -> str:
    case = county_case(NOW, state, COUNTY)
    assert ActionKind.RATE in views.request_view(case, NOW).allowed_actions
    rate = {"kind": ActionKind.RATE, "text_label": None, "dangerous": False, "key": "k-1"}
    stages = rating_stages(case.state)
    return render("case.html", **case_page_context(case, NOW, actions=[rate], rating_stages=stages))


@pytest.mark.parametrize("state", [State.ASSIGNED, State.IN_PROGRESS, State.SUSPENDED])
def test_an_open_request_is_rated_at_its_intake(state: State) -> None:
    assert rating_stages(state) == [RatingStage.INTAKE]
    html = case_page(state)
    assert '<select id="s-rate" name="stage" required>' in html
    assert '<option value="intake">受理评价</option>' in html and "评价对象" in html


def test_a_concluded_request_is_rated_at_its_conclusion() -> None:
    assert rating_stages(State.RESOLVED) == [] and rating_stages(None) == []
    html = case_page(State.RESOLVED)
    assert 'name="rating"' in html and 'name="stage"' not in html
