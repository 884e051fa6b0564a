"""The case page shows where the 催办 ladder of each late step stands (reminded or when, and
when the tier above supervises), and a person's text as written even where it reads like
the engine's reason; rendered from a real workflow state in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta

from schemas.domain import State
from schemas.lifecycle import Chase, EventType
from schemas.request import SYSTEM_ACTOR
from tests.unit.test_console_next_deadline import COUNTY, NOW
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import case_page_context, county_case
from tests.utils.factories import caseworker
from workflows.records import record_transition


def test_the_case_page_shows_each_late_steps_ladder() -> None:
    case = county_case(NOW, State.ACKNOWLEDGED, COUNTY)
    late = NOW - timedelta(days=2)
    case.chases = [
        Chase(
            clock="resolution",
            late_since=late,
            remind_at=late + timedelta(days=1),
            reminded_at=late + timedelta(days=1),
            supervise_at=NOW + timedelta(days=3),
        ),
        Chase(  # done: not shown
            clock="sign_for",
            late_since=late,
            remind_at=late,
            supervise_at=late + timedelta(days=5),
            closed_at=NOW,
        ),
    ]
    html = render("case.html", **case_page_context(case, NOW))
    chases = html.split('id="chases"')[1].split("</ol>")[0]
    assert len(re.findall("<li>", chases)) == 1
    assert "起逾期" in chases and "已于" in chases and "催办" in chases
    assert "上级将于" in chases and "督办" in chases
    assert "sign_for" not in chases


def test_without_a_late_step_there_is_no_ladder() -> None:
    html = render(
        "case.html", **case_page_context(county_case(NOW, State.ACKNOWLEDGED, COUNTY), NOW)
    )
    assert 'id="chases"' not in html


def test_a_persons_comment_is_shown_as_written() -> None:
    case = county_case(NOW, State.ACKNOWLEDGED, COUNTY)
    record_transition(
        case,
        EventType.COMMENTED,
        caseworker(COUNTY.id),
        NOW,
        to_state=case.state,
        from_tier=None,
        reason="sla_breach:response",
        action_id=None,
        details={},
    )
    html = render("case.html", **case_page_context(case, NOW))
    assert '<p class="ev-reason">sla_breach:response</p>' in html


def test_the_engines_steps_are_the_systems_and_an_appeal_shows_its_deadline() -> None:
    from schemas.lifecycle import Rectification

    case = county_case(NOW, State.CLOSED, COUNTY)
    record_transition(
        case,
        EventType.SLA_WARNING,
        SYSTEM_ACTOR,
        NOW,
        to_state=case.state,
        from_tier=None,
        reason=None,
        action_id=None,
        details={},
    )
    case.rectification = Rectification(
        rating=1,
        institution_id=COUNTY.id,
        opened_at=NOW - timedelta(days=3),
        due_at=NOW + timedelta(days=10),
        appeal_until=NOW + timedelta(days=2),
        appealed_at=NOW - timedelta(days=1),
        appeal="评价系误操作",
        appeal_decide_by=NOW + timedelta(days=4),
    )
    html = render("case.html", **case_page_context(case, NOW))
    assert "操作人 系统" in html and "操作人 tierflow" not in html
    appeal = html.split("待决定")[1][:200]
    assert "须于" in appeal and "前决定" in appeal


def test_while_the_engine_cannot_answer_the_actions_wait_not_none_are_open() -> None:
    case = county_case(NOW, State.ACKNOWLEDGED, COUNTY)
    html = render("case.html", **case_page_context(case, NOW, missing="unavailable"))
    actions = html.split('id="actions-title"')[1].split("</section>")[0]
    assert "流程引擎恢复应答后才能办理" in actions and "您没有可办理的操作" not in actions
