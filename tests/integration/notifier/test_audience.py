"""Who an audience is, from the user table: the desks of the tier above, for the region."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from schemas.domain import Role, Tier
from schemas.lifecycle import EventType
from schemas.request import SYSTEM_ACTOR, Actor
from tests.utils.factories import RecordFactory, caseworker, make_request
from tests.utils.notifier_helpers import project
from tierflow.auth_store import create_user, set_disabled
from tierflow.db.notification_models import Notification, NotificationPreference
from tierflow.directory import Directory
from tierflow.directory_store import fill_institutions
from workers.notifier.audience import recipients
from workers.notifier.dispatcher import address_at_send
from workers.notifier.rules import Audience


def test_a_return_reaches_the_dispatch_desk_of_the_tier_above_in_the_region(
    engine: Engine,
) -> None:
    for user, role, unit in (
        ("disp-hz", Role.DISPATCHER, "zj-330100-sme"),  # Hangzhou's dispatch desk
        ("disp-nb", Role.DISPATCHER, "zj-330200-sme"),  # Ningbo's: another city
        ("desk-hz", Role.FOLLOW_UP, "zj-330100-sme"),  # Hangzhou's follow-up desk
        ("sup-hz", Role.SUPERVISOR, "zj-330100-sme"),
    ):
        create_user(engine, user, role, unit)
    factory = RecordFactory(make_request(division_code="330106"))
    factory.assigned("zj-330106-sme", Tier.COUNTY)
    record = factory.breached("response")  # an event of the county's request
    found = {
        audience: [r.user_id for r in recipients(engine, audience, record, "zh-CN")]
        for audience in (
            Audience.DISPATCH_DESK,
            Audience.FOLLOW_UP_DESK,
            Audience.SUPERVISORS_ABOVE,
        )
    }
    assert found == {
        Audience.DISPATCH_DESK: ["disp-hz"],
        Audience.FOLLOW_UP_DESK: ["desk-hz"],
        Audience.SUPERVISORS_ABOVE: ["sup-hz"],
    }


def test_a_request_sent_to_another_citys_county_is_that_citys_to_hear_of(
    engine: Engine,
) -> None:
    for user, role, unit in (
        ("sup-hz", Role.SUPERVISOR, "zj-330100-sme"),  # the enterprise's city
        ("sup-nb", Role.SUPERVISOR, "zj-330200-sme"),  # the city of the unit holding it
        ("disp-nb", Role.DISPATCHER, "zj-330200-sme"),
    ):
        create_user(engine, user, role, unit)
    factory = RecordFactory(make_request(division_code="330106"))
    factory.assigned("zj-330106-sme", Tier.COUNTY)
    factory.scope_division = "330212"  # the province sent it to 鄞州区's unit
    factory.assigned("zj-330212-sme", Tier.COUNTY)
    record = factory.breached("response")
    found = {
        audience: [r.user_id for r in recipients(engine, audience, record, "zh-CN")]
        for audience in (Audience.SUPERVISORS_ABOVE, Audience.DISPATCH_DESK)
    }
    assert found == {Audience.SUPERVISORS_ABOVE: ["sup-nb"], Audience.DISPATCH_DESK: ["disp-nb"]}


def test_the_enterprise_is_texted_only_at_a_mobile_number(engine: Engine) -> None:
    """A landline or a switchboard extension takes no text message: only the e-mail is
    planned; a mobile number, however it was written, takes both."""
    found = {}
    for phone in ("0571-87654321", "13800000000 转 12", "+86 138-0000-0000", "+1 415 555 0100"):
        request = make_request()
        request.enterprise.contact_phone = phone
        [record] = project(engine, [RecordFactory(request).submitted()])
        [enterprise] = recipients(engine, Audience.ENTERPRISE, record, "zh-CN")
        found[phone] = {channel.value for channel in enterprise.channels}
    assert found == {
        "0571-87654321": {"email"},
        "13800000000 转 12": {"email"},
        "+86 138-0000-0000": {"email", "sms"},
        "+1 415 555 0100": {"email", "sms"},
    }


def test_a_text_goes_to_the_number_on_file_in_e164_and_never_to_a_landline(
    engine: Engine,
) -> None:
    """Read at send time: a user's mobile saved as typed before preferences kept E.164, and a
    landline saved before preferences required a mobile (no number: the message is skipped);
    a user who turned texts off, or whose account was disabled, since the message was planned
    (held for working hours) is sent none."""
    now = datetime.now(UTC)
    users = {"u-mobile": "138 0000 0000", "u-landline": "057187654321", "u-off": "13900000000"}
    with Session(engine) as session:
        for user, phone in users.items():
            on = user != "u-off"
            pref = NotificationPreference(user_id=user, phone=phone, sms_enabled=on, updated_at=now)
            session.add(pref)
        session.commit()
    for user in (*users, "u-left"):
        create_user(engine, user, Role.CASEWORKER, "zj-330106-sme")
    set_disabled(engine, "u-left", True)

    def texted(user: str) -> str:
        row = Notification(recipient=f"user:{user}", user_id=user, request_id="req-1")
        return address_at_send(engine, row, "phone")

    assert texted("u-mobile") == "+8613800000000"
    with pytest.raises(Exception, match="no phone on file"):
        texted("u-landline")
    with pytest.raises(Exception, match="phone turned off"):
        texted("u-off")
    with pytest.raises(Exception, match="the account is disabled"):
        texted("u-left")


def test_nobody_is_told_of_their_own_step_and_a_named_handler_hears(engine: Engine) -> None:
    """The caseworker who records the enterprise's materials is not told of it, their
    colleagues are; a handler named by the unit's lead hears, and one who claimed it not."""
    county = "zj-330106-sme"
    for user, role in (("cw-a", Role.CASEWORKER), ("cw-b", Role.CASEWORKER)):
        create_user(engine, user, role, county)
    create_user(engine, "lead", Role.SUPERVISOR, county)
    factory = RecordFactory(make_request(division_code="330106"))
    factory.assigned(county, Tier.COUNTY)
    by_a = caseworker(county, "cw-a")
    handed_in = factory.emit(EventType.INFO_PROVIDED, actor=by_a, reason="财务报表")
    told = [r.user_id for r in recipients(engine, Audience.CASEWORKERS, handed_in, "zh-CN")]
    assert told == ["cw-b"]
    lead = Actor(id="lead", role=Role.SUPERVISOR, institution_id=county)
    for actor, how, heard in ((lead, "assign_handler", ["cw-b"]), (by_a, "claim", [])):
        named = factory.emit(
            EventType.HANDLER_CHANGED,
            actor=actor,
            details={"handler_id": actor.id if how == "claim" else "cw-b", "how": how},
        )
        found = [r.user_id for r in recipients(engine, Audience.HANDLER, named, "zh-CN")]
        assert found == heard, how


def test_a_late_parts_chase_reaches_the_co_handler_not_the_holding_unit(engine: Engine) -> None:
    """催办, 督办 and 通报 of a late co-handling part go to the co-handler's caseworkers and
    lead, which must act and reply; the holding unit's own late step stays the holder's."""
    county, talent = "zj-330106-sme", "zj-330105-sme"
    for user, role, unit in (
        ("cw-county", Role.CASEWORKER, county),
        ("lead-county", Role.SUPERVISOR, county),
        ("cw-talent", Role.CASEWORKER, talent),
        ("lead-talent", Role.SUPERVISOR, talent),
    ):
        create_user(engine, user, role, unit)
    factory = RecordFactory(make_request(division_code="330106"))
    factory.assigned(county, Tier.COUNTY)
    chase = {"clock": f"part:{talent}", "cause": "chase"}
    records = {
        "part reminded": factory.emit(
            EventType.REMINDED, details={"clock": "part", "co_handler": talent}
        ),
        "part supervised": factory.emit(EventType.SUPERVISION_OPENED, details=chase),
        "part reprimanded": factory.emit(
            EventType.REPRIMANDED, details={**chase, "supervised_institution": talent}
        ),
        "response reminded": factory.emit(EventType.REMINDED, details={"clock": "response"}),
    }
    found = {
        name: sorted(
            r.user_id or ""
            for audience in (Audience.CASEWORKERS, Audience.INSTITUTION_LEAD)
            for r in recipients(engine, audience, record, "zh-CN")
        )
        for name, record in records.items()
    }
    assert found == {
        "part reminded": ["cw-talent", "lead-talent"],
        "part supervised": ["cw-talent", "lead-talent"],
        "part reprimanded": ["cw-talent", "lead-talent"],
        "response reminded": ["cw-county", "lead-county"],
    }


def test_a_reply_and_a_reprimand_reach_whoever_opened_the_supervision(engine: Engine) -> None:
    """督办 by the province of a county unit: its reply (or the reprimand for none) reaches
    the provincial supervisor who opened it, not only the city above the county; one the
    engine opened has no opener to tell."""
    for user, unit in (("sup-prov", "zj-330000-sme"), ("sup-hz", "zj-330100-sme")):
        create_user(engine, user, Role.SUPERVISOR, unit)
    factory = RecordFactory(make_request(division_code="330106"))
    factory.assigned("zj-330106-sme", Tier.COUNTY)
    county = caseworker("zj-330106-sme")
    replied = factory.emit(
        EventType.SUPERVISION_REPLIED, actor=county, details={"opened_by": "sup-prov"}
    )
    engine_opened = factory.emit(EventType.REPRIMANDED, details={"opened_by": SYSTEM_ACTOR.id})

    def users(audience: Audience, record) -> list[str | None]:  # noqa: ANN001
        return [r.user_id for r in recipients(engine, audience, record, "zh-CN")]

    assert users(Audience.SUPERVISION_OPENER, replied) == ["sup-prov"]
    assert users(Audience.SUPERVISORS_ABOVE, replied) == ["sup-hz"]
    assert users(Audience.SUPERVISION_OPENER, engine_opened) == []


def test_a_unit_whose_one_account_is_its_lead_hears_its_caseworkers_messages(
    engine: Engine,
) -> None:
    """A small unit with its lead as its only account (the lead counts as one of its
    caseworkers): its new request, and a co-handling part it is asked for, reach the lead; a
    unit with caseworkers keeps them for those messages."""
    small, county = "zj-330108-sme", "zj-330106-sme"
    create_user(engine, "lead-small", Role.SUPERVISOR, small)
    create_user(engine, "cw-county", Role.CASEWORKER, county)
    create_user(engine, "lead-county", Role.SUPERVISOR, county)
    factory = RecordFactory(make_request(division_code="330108"))
    sent = factory.assigned(small, Tier.COUNTY)
    told = [r.user_id for r in recipients(engine, Audience.CASEWORKERS, sent, "zh-CN")]
    assert told == ["lead-small"]
    other = RecordFactory(make_request(division_code="330106"))
    other.assigned(county, Tier.COUNTY)
    asked = other.emit(EventType.CO_HANDLER_ADDED, details={"co_handler": small})
    found = [r.user_id for r in recipients(engine, Audience.CO_HANDLERS, asked, "zh-CN")]
    assert found == ["lead-small"]
    own = [r.user_id for r in recipients(engine, Audience.CASEWORKERS, other.emit(
        EventType.COMMENTED, actor=SYSTEM_ACTOR, reason="批示"), "zh-CN")]  # fmt: skip
    assert own == ["cw-county"]


def test_an_appeal_reaches_the_supervisors_above_the_rated_unit(engine: Engine) -> None:
    """The county was rated 1 and its redo went up to the city: its appeal is decided above
    the county (the workflow's rule), so the city's supervisors hear of it, not the
    province's above the city that holds the request now."""
    fill_institutions(engine, Directory.load())
    county, city = "zj-330106-sme", "zj-330100-sme"
    create_user(engine, "sup-hz", Role.SUPERVISOR, city)
    create_user(engine, "sup-zj", Role.SUPERVISOR, "zj-330000-sme")
    factory = RecordFactory(make_request(division_code="330106"))
    factory.assigned(county, Tier.COUNTY)
    factory.escalated(city, Tier.MUNICIPAL)
    rated = {"rating": 1, "rectifying_institution": county}
    for event in (EventType.RATING_APPEALED, EventType.APPEAL_DECISION_OVERDUE):
        record = factory.emit(event, actor=caseworker(county), details=rated)
        told = [r.user_id for r in recipients(engine, Audience.SUPERVISORS_ABOVE, record, "zh")]
        assert told == ["sup-hz"], event


def test_a_request_held_before_it_reached_a_unit_is_told_to_the_supervisors_above(
    engine: Engine,
) -> None:
    """A step failed before the request was routed (operator_needed, no unit yet): the
    supervisors of the tier above the enterprise's county hear, as for a unit with nobody,
    in their inbox."""
    create_user(engine, "sup-hz", Role.SUPERVISOR, "zj-330100-sme")
    factory = RecordFactory(make_request(division_code="330106"))
    factory.submitted()
    held = factory.emit(EventType.OPERATOR_NEEDED, details={"step": "resolve_institution"})
    assert held.summary.institution_id is None
    found = recipients(engine, Audience.INSTITUTION_LEAD, held, "zh-CN")
    assert [(r.user_id, sorted(c.value for c in r.channels)) for r in found] == [
        ("sup-hz", ["inbox"])
    ]
