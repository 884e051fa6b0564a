"""The view offers an action only when what it acts on is there: the workflow refuses a
reply without a supervision, a part step without a part, a claim of a handled request ..."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.domain import ClockKind, Role, State, Tier
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    Institution,
    Rectification,
    SlaClock,
    Supervision,
    TierHold,
    WorkflowState,
)
from schemas.request import Actor
from tests.utils.console_cases import county_case
from workflows import applications, chasing, parts, views

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
COUNTY = Institution(id="zj-330106-sme", name="西湖区", tier=Tier.COUNTY, division_code="330106")
CITY = Institution(id="zj-330100-sme", name="杭州市", tier=Tier.MUNICIPAL, division_code="330100")
LEAD = Actor(id="sup-1", role=Role.SUPERVISOR, tier=Tier.MUNICIPAL, division_code="330100")
NEEDS_SOMETHING = {
    ActionKind.CLAIM,
    ActionKind.TRANSFER,
    ActionKind.REPLY_SUPERVISION,
    ActionKind.SIGN_FOR_PART,
    ActionKind.CONCLUDE_PART,
    ActionKind.WAIVE_PART,
}


def offered(case: WorkflowState) -> set[ActionKind]:
    return set(views.request_view(case, NOW).allowed_actions) & NEEDS_SOMETHING


def _add_city_part(case: WorkflowState) -> None:
    """The city's centre co-handles a part (added by the city's supervisor)."""
    add = ActionRequest(
        action_id="a-1",
        kind=ActionKind.ADD_CO_HANDLER,
        actor=LEAD,
        institution_id=CITY.id,
        days=5,
        text="出口认证部分",
    )
    parts.add(case, add, CITY, NOW)


def test_only_what_the_request_holds_is_offered() -> None:
    case = county_case(NOW, State.IN_PROGRESS, COUNTY)
    case.holds = [TierHold(tier=Tier.COUNTY, institution_id=COUNTY.id, since=NOW)]
    assert offered(case) == {ActionKind.CLAIM}  # nobody handles it, nothing else is open

    case.holds[-1].handler = "cw-1"
    chasing.open_supervision(case, "sup-1", "请加快办理", None, NOW, 3)
    _add_city_part(case)
    assert offered(case) == NEEDS_SOMETHING - {ActionKind.CLAIM}

    case.parts[-1].signed_for_at = NOW  # signed for: it can still be concluded or waived
    assert ActionKind.SIGN_FOR_PART not in offered(case)
    assert {ActionKind.CONCLUDE_PART, ActionKind.WAIVE_PART} <= offered(case)


def _worker(actor_id: str, unit: Institution) -> Actor:
    return Actor(
        id=actor_id,
        role=Role.CASEWORKER,
        institution_id=unit.id,
        tier=unit.tier,
        division_code=unit.division_code,
    )


def test_each_person_is_offered_what_the_workflow_accepts_from_them() -> None:
    """The holding unit's handler, a colleague, the co-handling unit and a county supervisor
    see the same request; each is offered only the steps the workflow takes from them."""
    case = county_case(NOW, State.IN_PROGRESS, COUNTY)
    case.holds = [TierHold(tier=Tier.COUNTY, institution_id=COUNTY.id, since=NOW, handler="cw-1")]
    running = SlaClock(  # an extension is asked of a resolution clock with time left
        kind=ClockKind.RESOLUTION,
        tier=Tier.COUNTY,
        target_seconds=40 * 3600,
        started_at=NOW - timedelta(days=1),
        running_since=NOW - timedelta(days=1),
        deadline=NOW + timedelta(days=3),
    )
    case.clocks = [running]
    _add_city_part(case)
    view = views.request_view(case, NOW)
    part_steps = {ActionKind.SIGN_FOR_PART, ActionKind.CONCLUDE_PART}
    assert part_steps <= set(view.allowed_actions)  # to someone: the co-handling unit

    handler = set(views.offered_to(view, _worker("cw-1", COUNTY)))
    colleague = set(views.offered_to(view, _worker("cw-2", COUNTY)))
    co_handler = set(views.offered_to(view, _worker("cw-c", CITY)))
    assert ActionKind.TRANSFER in handler and not handler & part_steps
    assert ActionKind.RESOLVE not in handler  # 办结 waits for the open part (parts.refusal)
    assert colleague == handler - {ActionKind.TRANSFER}  # only the handler transfers it
    assert co_handler == part_steps  # its part is its scope: not the holding unit's steps

    case.parts[-1].signed_for_at = NOW
    signed = views.request_view(case, NOW)
    assert set(views.offered_to(signed, _worker("cw-c", CITY))) == {ActionKind.CONCLUDE_PART}

    county_lead = Actor(id="sup-c", role=Role.SUPERVISOR, tier=Tier.COUNTY, division_code="330106")
    asked = ActionRequest(
        action_id="a-2",
        kind=ActionKind.REQUEST_EXTENSION,
        actor=_worker("cw-1", COUNTY),
        days=3,
        text="等银行审批",
    )
    applications.ask(case, asked, NOW)
    waiting = views.request_view(case, NOW)
    decide = {ActionKind.APPROVE_EXTENSION, ActionKind.REFUSE_EXTENSION}
    assert decide <= set(views.offered_to(waiting, LEAD))  # a tier above decides
    assert not part_steps & set(views.offered_to(waiting, LEAD))  # the unit's own steps
    unit_steps = {ActionKind.RESOLVE, ActionKind.REQUEST_EXTENSION, ActionKind.RETURN}
    assert not unit_steps & set(views.offered_to(view, LEAD))  # not the city's for the unit
    own_lead = LEAD.model_copy(
        update={"tier": Tier.COUNTY, "division_code": "330106", "institution_id": COUNTY.id}
    )
    assert unit_steps - {ActionKind.RESOLVE} <= set(views.offered_to(view, own_lead))
    case.parts[-1].concluded_at = NOW  # the part is done: 办结 is the unit's own step again
    concluded = views.request_view(case, NOW)
    assert ActionKind.RESOLVE in views.offered_to(concluded, own_lead)
    assert ActionKind.RESOLVE in views.offered_to(concluded, _worker("cw-1", COUNTY))
    assert not decide & set(views.offered_to(waiting, county_lead))  # not the county's own


def test_the_units_own_rectification_steps_are_offered_to_the_unit() -> None:
    """Concluding a rectification (整改) and appealing the rating (申诉) are the unit's steps;
    a supervisor of the city (another unit) decides the appeal instead."""
    case = county_case(NOW, State.RESOLVED, COUNTY)
    case.holds = [TierHold(tier=Tier.COUNTY, institution_id=COUNTY.id, since=NOW, handler="cw-1")]
    case.rectification = Rectification(
        institution_id=COUNTY.id,
        rating=1,
        opened_at=NOW,
        due_at=NOW + timedelta(days=15),
        appeal_until=NOW + timedelta(days=5),
    )
    view = views.request_view(case, NOW)
    unit_steps = {ActionKind.CONCLUDE_RECTIFICATION, ActionKind.APPEAL_RATING}
    assert unit_steps <= set(views.offered_to(view, _worker("cw-1", COUNTY)))
    city_lead = LEAD.model_copy(update={"institution_id": CITY.id})
    assert not unit_steps & set(views.offered_to(view, city_lead))


def test_the_supervised_units_reply_is_offered_to_the_unit() -> None:
    """督办's written reply is the supervised unit's (its caseworkers and its own lead), not
    the city supervisor's who opened it; the workflow's validator says the same."""
    case = county_case(NOW, State.IN_PROGRESS, COUNTY)
    case.supervisions = [
        Supervision(
            opened_at=NOW,
            opened_by="sup-1",
            reason="请书面说明进展",
            institution_id=COUNTY.id,
            reply_due_at=NOW + timedelta(days=3),
        )
    ]
    view = views.request_view(case, NOW)
    reply = ActionKind.REPLY_SUPERVISION
    assert reply in views.offered_to(view, _worker("cw-1", COUNTY))
    city_lead = LEAD.model_copy(update={"institution_id": CITY.id})
    assert reply not in views.offered_to(view, city_lead)
    refusal = chasing.reply_refusal(case.supervisions, city_lead)
    assert refusal == "cannot reply: the supervision is of zj-330106-sme, which writes the reply"
