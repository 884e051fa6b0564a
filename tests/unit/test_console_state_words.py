"""A dispatched request says whether its unit has signed for it (签收): on the case page, in
the queue and in the CLI, "已派单待签收" until then, "已派单（已签收）" after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.models import QueuePage, RequestItem
from schemas.domain import SlaStatus, State, Tier
from schemas.lifecycle import Institution
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import case_page_context, county_case
from tierflow.cli.client import state_words
from workflows import views

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
COUNTY = Institution(id="zj-330106-sme", name="西湖区", tier=Tier.COUNTY, division_code="330106")
OPTIONS: dict[str, list[str]] = {"state": [], "category": [], "priority": [], "sla_status": []}


def pages(signed: bool, missed: bool = False) -> tuple[str, str]:
    """The case page and the queue of a dispatched request; ``missed``: its sign-for deadline
    passed (the clock stopped, breached: no deadline runs)."""
    case = county_case(NOW, State.ASSIGNED, COUNTY)
    view = views.request_view(case, NOW)
    when: dict[str, object] = {"sign_for_due_at": NOW + timedelta(hours=2)}
    if signed:
        when = {"signed_for_at": NOW}
    elif missed:
        when = {"sign_for_due_at": None, "sla_status": SlaStatus.BREACHED}
    summary = view.summary.model_copy(update=when)
    context = case_page_context(case, NOW) | {"summary": summary}
    item = RequestItem(**summary.model_dump(), next_due_at=None)
    page = QueuePage(total=1, limit=50, offset=0, items=[item])
    queue = render("queue.html", page=page, filters={}, scope={}, options=OPTIONS)
    return render("case.html", **context), queue


STATE_CELL = '<td data-label="状态">'  # the queue's state column (its name for a phone's card)


def test_a_dispatched_request_says_whether_it_was_signed_for() -> None:
    case, queue = pages(signed=False)
    assert "<strong>已派单待签收</strong>" in case and f"{STATE_CELL}已派单待签收</td>" in queue
    case, queue = pages(signed=True)
    signed_for = "已派单（已签收）"
    assert f"<strong>{signed_for}</strong>" in case and f"{STATE_CELL}{signed_for}</td>" in queue
    assert "待签收" not in case.split('class="state"')[1].split("</span>")[0]


def test_a_missed_sign_for_still_waits_for_it_and_says_its_deadline_passed() -> None:
    """Past its sign-for deadline (reminded, under the packaged policy) the request still
    waits for the unit to sign for it: it says so, and that its deadline was missed rather
    than that no deadline runs (无计时)."""
    case, queue = pages(signed=False, missed=True)
    assert "<strong>已派单待签收</strong>" in case and f"{STATE_CELL}已派单待签收</td>" in queue
    for page in (case, queue):
        assert "已超时，无新期限" in page and ">无计时<" not in page
    missed = {"state": "assigned", "sign_for_due_at": None, "sla_status": "breached"}
    assert state_words(missed) == "已派单待签收"


def test_the_cli_says_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    awaiting = {"state": "assigned", "sign_for_due_at": "2026-03-02T05:00:00Z"}
    signed = {"state": "assigned", "signed_for_at": "2026-03-02T03:10:00Z"}
    monkeypatch.setenv("TIERFLOW_LANG", "zh-CN")
    assert (state_words(awaiting), state_words(signed)) == ("已派单待签收", "已派单（已签收）")
    assert state_words({"state": "acknowledged", "signed_for_at": "x"}) == "已受理"
    desk = {"state": "resolved", "awaiting": ["follow_up", "appeal_decision"]}
    assert state_words(desk) == "已办结；待回访、申诉待决定"  # whose turn it is besides the unit
    monkeypatch.setenv("TIERFLOW_LANG", "en")
    assert state_words(awaiting) == "Dispatched, awaiting sign-for"
