"""What the units and desks hear when a request moves or an application waits, through the
packaged rules on a real read model: the unit an approved 退单 or a 改派 sends it to gets its
待办 (with the deadlines to sign for and answer), the unit it left hears it has nothing more to do;
an application undecided by its deadline reaches those who may decide it (the dispatch desk
decides returns and extensions, not 挂起)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from schemas.domain import Role, State
from schemas.events import event_from_transition
from schemas.lifecycle import EventType, TransitionRecord
from tests.utils.factories import RecordFactory, caseworker, make_request, supervisor
from tests.utils.notifier_helpers import project, rows
from tierflow.auth_store import create_user
from tierflow.notification_store import set_preference
from workers.notifier.planner import Planner, record_rows
from workers.notifier.rules import load_rules
from workers.notifier.templates import Templates

COUNTY, NEIGHBOUR, CITY = "zj-330106-sme", "zj-330105-sme", "zj-330100-sme"


def _plan(engine: Engine, records: list[TransitionRecord]) -> None:
    planner = Planner(
        engine, load_rules(), Templates(), "http://console", clock=lambda: datetime.now(UTC)
    )
    for record in project(engine, records):
        record_rows(engine, planner.plan(event_from_transition(record), record))


def _heard(engine: Engine, rule: str) -> list[tuple[str, str]]:
    return sorted((r.user_id or "", r.subject) for r in rows(engine, rule=rule, channel="inbox"))


def test_an_approved_return_is_the_new_units_to_do_and_the_old_ones_to_drop(
    engine: Engine,
) -> None:
    for user, unit in (("cw-county", COUNTY), ("cw-neighbour", NEIGHBOUR)):
        create_user(engine, user, Role.CASEWORKER, unit)
    f = RecordFactory(make_request("req-returned"))
    desk = supervisor(f.tier, "330100", CITY)
    approved = f.emit(
        EventType.RETURN_APPROVED,
        State.ASSIGNED,
        actor=desk,
        institution_id=NEIGHBOUR,
        reason="转邻区办理",
        details={"returned_by": COUNTY, "from_institution": COUNTY, "institution_name": "邻区"},
    )
    _plan(engine, [f.submitted(), f.assigned(COUNTY), approved])
    assert [u for u, _ in _heard(engine, "assigned")] == ["cw-county", "cw-neighbour"]
    (todo,) = [s for u, s in _heard(engine, "assigned") if u == "cw-neighbour"]
    assert todo.startswith("【待办】")
    assert _heard(engine, "moved_away") == [
        ("cw-county", "【退单已批准】工单 req-returned：" + f.request.subject)
    ]
    assert rows(engine, rule="application_decided") == []


def test_an_overdue_suspension_decision_does_not_go_to_the_dispatch_desk(engine: Engine) -> None:
    create_user(engine, "disp-city", Role.DISPATCHER, CITY)
    create_user(engine, "sup-city", Role.SUPERVISOR, CITY)
    for kind in ("suspend", "request_extension"):
        f = RecordFactory(make_request(f"req-overdue-{kind}"))
        asked = {
            "kind": kind,
            "asked_at": "2026-12-01T02:00:00+00:00",
            "decide_by": "2026-12-02T02:00:00+00:00",
            "applicant_institution": COUNTY,
        }
        overdue = f.emit(EventType.DECISION_OVERDUE, details=asked)
        _plan(engine, [f.submitted(), f.assigned(COUNTY), overdue])
    heard = sorted(
        (r.request_id, r.user_id or "")
        for r in rows(engine, channel="inbox")
        if r.event_type == "decision_overdue"
    )
    assert heard == [
        ("req-overdue-request_extension", "disp-city"),
        ("req-overdue-request_extension", "sup-city"),
        ("req-overdue-suspend", "sup-city"),
    ]


def test_the_unit_a_request_is_pulled_up_from_hears_it_has_nothing_more_to_do(
    engine: Engine,
) -> None:
    for user, unit in (("cw-county", COUNTY), ("cw-city", CITY)):
        create_user(engine, user, Role.CASEWORKER, unit)
    f = RecordFactory(make_request("req-pulled-up"))
    city = supervisor(f.tier, "330100", CITY)
    up = f.emit(
        EventType.ESCALATED,
        State.ASSIGNED,
        actor=city,
        institution_id=CITY,
        reason="需市级协调",
        details={"from_institution": COUNTY, "institution_name": "市中心"},
    )
    back = f.emit(
        EventType.HANDED_BACK,
        State.ASSIGNED,
        actor=city,
        institution_id=COUNTY,
        reason="区级可办",
        details={"from_institution": CITY, "institution_name": "区中心"},
    )
    _plan(engine, [f.submitted(), f.assigned(COUNTY), up, back])
    subject = f.request.subject
    assert _heard(engine, "moved_away") == [
        ("cw-city", f"【已交回】工单 req-pulled-up：{subject}"),
        ("cw-county", f"【已提级】工单 req-pulled-up：{subject}"),
    ]


def test_a_unit_with_nobody_is_stood_in_for_by_the_first_tier_above_with_someone(
    engine: Engine,
) -> None:
    """A request routed to a directory placeholder (义乌: gen-330782, its city gen-330700,
    neither with accounts): its 待办 reaches the province's dispatch desk, its breach the
    province's supervisors, instead of nobody."""
    create_user(engine, "desk-zj", Role.DISPATCHER, "zj-330000-sme")
    create_user(engine, "sup-zj", Role.SUPERVISOR, "zj-330000-sme")
    create_user(engine, "cw-county", Role.CASEWORKER, COUNTY)  # staffed elsewhere: not them
    for user in ("desk-zj", "sup-zj"):  # mail on: standing in, they are not mailed
        set_preference(engine, user, {"email": f"{user}@example.com"}, datetime.now(UTC))
    f = RecordFactory(make_request("req-yiwu", division_code="330782"))
    _plan(engine, [f.submitted(), f.assigned("gen-330782"), f.breached()])
    subject = f.request.subject
    assert _heard(engine, "assigned") == [("desk-zj", f"【待办】工单 req-yiwu：{subject}")]
    assert [user for user, _ in _heard(engine, "sla_breached")] == ["desk-zj", "sup-zj"]
    # in the inbox only: a region of placeholders would fill the province's mail
    standing_in = [r for r in rows(engine, request_id="req-yiwu") if r.user_id]
    assert standing_in and {r.channel for r in standing_in} == {"inbox"}
    staffed = RecordFactory(make_request("req-gongshu"))  # a staffed unit's: its own people
    _plan(engine, [staffed.submitted(), staffed.assigned(COUNTY)])
    assert [u for u, s in _heard(engine, "assigned") if "req-gongshu" in s] == ["cw-county"]


def test_a_return_for_outside_the_region_reaches_the_provinces_desk(engine: Engine) -> None:
    """非本辖区: the unit it belongs to may be in another city, which only the province may
    send it to; the city's desk hears of every return, the province's of these."""
    create_user(engine, "disp-city", Role.DISPATCHER, CITY)
    create_user(engine, "desk-zj", Role.DISPATCHER, "zj-330000-sme")
    for reason in ("outside_region", "not_our_remit"):
        f = RecordFactory(make_request(f"req-{reason}"))
        asked = f.emit(
            EventType.RETURN_REQUESTED,
            State.ASSIGNED,
            actor=caseworker(COUNTY),
            reason="企业注册地不在本区",
            details={"return_reason": reason},
        )
        _plan(engine, [f.submitted(), f.assigned(COUNTY), asked])
    heard = sorted(
        (r.request_id, r.user_id or "", r.rule)
        for r in rows(engine, channel="inbox")
        if r.event_type == "return_requested"
    )
    assert heard == [
        ("req-not_our_remit", "disp-city", "return_to_dispatch"),
        ("req-outside_region", "desk-zj", "return_outside_region"),
        ("req-outside_region", "disp-city", "return_to_dispatch"),
    ]
