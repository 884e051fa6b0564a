"""An action form's text label says what the text becomes: a supervisor's comment is an
instruction (批示) that the holding unit's caseworkers are told of; anyone else's is a note."""

from __future__ import annotations

import re

from api.console.routes import text_label
from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind, EventType
from tests.unit.test_console_next_deadline import COUNTY, NOW
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import case_page_context, county_case
from tests.utils.factories import caseworker, supervisor
from tierflow.auth_store import Principal
from tierflow.i18n import translations
from tierflow.i18n.labels import step_label
from workflows.records import record_transition


def test_a_supervisors_comment_is_labelled_an_instruction() -> None:
    boss = Principal(user_id="sup", role=Role.SUPERVISOR, institution_id="zj-330100-sme")
    worker = Principal(user_id="cw", role=Role.CASEWORKER, institution_id="zj-330106-sme")
    assert text_label(ActionKind.COMMENT, boss).startswith("Instruction to the unit")
    assert text_label(ActionKind.COMMENT, worker) == "Comment"
    assert text_label(ActionKind.RESOLVE, boss) == "How it was concluded"
    desk = Principal(user_id="disp", role=Role.DISPATCHER, institution_id="zj-330100-sme")
    assert text_label(ActionKind.WITHDRAW, desk) == "How and when the enterprise asked to withdraw"
    portal = Principal(user_id="portal", role=Role.SYSTEM)
    assert text_label(ActionKind.WITHDRAW, portal) is None  # in its own name: a click
    # a rating: its reason (a bad one needs it), or how the desk heard it from the enterprise
    follow_up = Principal(user_id="desk", role=Role.FOLLOW_UP, institution_id="zj-330100-sme")
    assert text_label(ActionKind.RATE, follow_up) == "How and when the enterprise gave the rating"
    assert text_label(ActionKind.RATE, portal) == "Why (required for a rating of 1 or 2)"


def test_the_timeline_calls_a_supervisors_comment_an_instruction() -> None:
    """The step is recorded with its actor's role; the case page and ``tierflow show`` then
    read a supervisor's comment as 批示 (what the unit was told), anyone else's as 备注."""
    case = county_case(NOW, State.ACKNOWLEDGED, COUNTY)
    boss = supervisor(Tier.MUNICIPAL, "330100", "zj-330100-sme")
    for actor in (boss, caseworker(COUNTY.id, "cw1")):
        record_transition(
            case,
            EventType.COMMENTED,
            actor,
            NOW,
            to_state=case.state,
            from_tier=None,
            reason="今天内联系企业",
            action_id=None,
            details={},
        )
    assert [e.actor_role for e in case.timeline] == [Role.SUPERVISOR, Role.CASEWORKER]
    html = render("case.html", **case_page_context(case, NOW))
    steps = re.findall(r'<span class="ev-type">([^<]*)</span>', html)
    assert steps == ["备注", "批示"]  # newest first
    zh = translations("zh-CN")
    said = [step_label(e.event_type.value, e.actor_role, zh) for e in case.timeline]
    assert said == ["批示", "备注"]  # as the CLI reads the API's JSON
    assert step_label("commented", None, zh) == "备注"  # an entry kept from before roles
