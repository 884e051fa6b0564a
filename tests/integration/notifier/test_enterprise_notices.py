"""What the enterprise hears, through the packaged rules: who accepted its request and by when
(受理告知), that it moved to another unit (转办告知), what a unit changed after its bad rating
(整改反馈), a refusal after acceptance worded as 终止办理; and text messages to a mobile-only
contact once an SMS gateway is configured (none is planned, and the notifier says so, without
one)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib import resources

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from schemas.domain import Role, State, Tier
from schemas.events import event_from_transition
from schemas.lifecycle import EventType, TransitionRecord
from schemas.request import Actor
from tests.utils.factories import RecordFactory, caseworker, make_request, system_client
from tests.utils.notifier_helpers import CITY, COUNTY, project, rows
from tierflow.auth_store import create_user
from tierflow.db.models import InstitutionRow
from tierflow.settings import Settings
from workers.notifier.planner import Planner, record_rows
from workers.notifier.process import load_checked_rules
from workers.notifier.rules import Rules, load_rules, parse_rules
from workers.notifier.templates import Templates

COUNTY_NAME = "杭州市西湖区中小企业服务中心"
CITY_NAME = "杭州市中小企业服务中心"
GATEWAY = """
[sms]
url = "https://sms-gateway.example.org/send"
body_template = '{"to": {{ phone | tojson }}, "text": {{ text | tojson }}}'
"""
CLOCK = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _with_gateway() -> Rules:
    packaged = resources.files("workers.notifier").joinpath("data/rules.toml").read_text("utf-8")
    return parse_rules(packaged + GATEWAY, "packaged rules and a gateway")


def _plan(
    engine: Engine, rules: Rules, records: list[TransitionRecord], portal: str | None = None
) -> None:
    with Session(engine) as session:
        for unit, name, tier, division in (
            (COUNTY, COUNTY_NAME, Tier.COUNTY, "330106"),
            (CITY, CITY_NAME, Tier.MUNICIPAL, "330100"),
        ):
            session.merge(InstitutionRow(id=unit, name=name, tier=tier, division_code=division))
        session.commit()
    planner = Planner(
        engine, rules, Templates(), "http://console", clock=lambda: CLOCK, portal_url=portal
    )
    for record in project(engine, records):
        record_rows(engine, planner.plan(event_from_transition(record), record))


def _told(engine: Engine, rule: str, channel: str = "email") -> list[str]:
    found = rows(engine, rule=rule, channel=channel)
    assert all(row.recipient.startswith("enterprise:") for row in found)
    return [row.subject + "\n" + row.body for row in found]


def test_the_enterprise_hears_who_accepted_its_request_and_where_it_moved(engine: Engine) -> None:
    f = RecordFactory(make_request())
    records = [
        f.submitted(),
        f.assigned(COUNTY),
        f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=caseworker(COUNTY)),
        f.escalated(CITY, Tier.MUNICIPAL),
    ]
    _plan(engine, load_rules(), records)
    [accepted] = _told(engine, "request_accepted")
    due = records[2].summary.resolution_due_at
    assert due is not None
    assert f"已由{COUNTY_NAME}受理，预计于 " in accepted and f.request.request_id in accepted
    [moved] = _told(engine, "request_transferred")
    assert f"已转由{CITY_NAME}办理" in moved and COUNTY_NAME not in moved


def test_the_enterprise_hears_what_the_unit_changed_after_its_bad_rating(engine: Engine) -> None:
    f = RecordFactory(make_request())
    records = [
        f.submitted(),
        f.assigned(COUNTY),
        f.rated(1, "答复敷衍"),
        f.emit(
            EventType.RECTIFICATION_CONCLUDED,
            actor=caseworker(COUNTY),
            reason="已重新对接三家合作银行并当面说明",
            details={"rating": 1, "rectifying_institution": COUNTY, "on_time": True},
        ),
    ]
    create_user(engine, "desk-city", Role.FOLLOW_UP, CITY)  # 回访 of the tier above
    _plan(engine, load_rules(), records)
    [reply] = _told(engine, "rectification_reply")
    assert f"{COUNTY_NAME}已完成整改" in reply and "已重新对接三家合作银行并当面说明" in reply
    # the follow-up desk hears of the bad rating, to call the enterprise back
    called = rows(engine, rule="bad_rating_call_back", recipient="user:desk-city")
    assert [row.channel.value for row in called] == ["inbox"] and "答复敷衍" in called[0].body


def test_a_bad_intake_rating_goes_to_the_lead_not_to_the_follow_up_desk(engine: Engine) -> None:
    """差评 of the 受理 reaches the unit's lead; no call back follows an intake rating, so the
    follow-up desk is not asked for one."""
    create_user(engine, "lead-county", Role.SUPERVISOR, COUNTY)
    create_user(engine, "desk-city", Role.FOLLOW_UP, CITY)
    f = RecordFactory(make_request())
    records = [f.submitted(), f.assigned(COUNTY), f.rated(1, "受理态度差", stage="intake")]
    _plan(engine, load_rules(), records)
    assert [r.user_id for r in rows(engine, rule="bad_rating")] == ["lead-county"]
    assert rows(engine, rule="bad_rating_call_back") == []


def test_a_bad_intake_rating_reaches_the_unit_that_did_the_intake(engine: Engine) -> None:
    """The county accepted (受理) the request, then it went up to the city: the enterprise's
    差评 of the 受理 is the county's (where 考核 charges it), so the county's lead hears."""
    create_user(engine, "lead-county", Role.SUPERVISOR, COUNTY)
    create_user(engine, "lead-city", Role.SUPERVISOR, CITY)
    f = RecordFactory(make_request())
    records = [f.submitted(), f.assigned(COUNTY)]
    records.append(f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=caseworker(COUNTY)))
    records += [f.escalated(CITY, Tier.MUNICIPAL), f.rated(1, "受理态度差", stage="intake")]
    _plan(engine, load_rules(), records)
    assert [r.user_id for r in rows(engine, rule="bad_rating")] == ["lead-county"]


def test_a_refusal_after_acceptance_is_not_worded_as_not_accepted(engine: Engine) -> None:
    """未予受理 only for a request no unit accepted; 终止办理 after any unit did, also when
    its move to another tier set it back to dispatched (已派单) before the refusal; a
    regional system client's refusal (a hotline's) is a refusal, not "no unit serves it"."""
    at_intake, accepted = RecordFactory(make_request()), RecordFactory(make_request())
    moved, hotline = RecordFactory(make_request()), RecordFactory(make_request())
    records = [at_intake.submitted(), at_intake.assigned(COUNTY)]
    records.append(
        at_intake.emit(EventType.REJECTED, State.REJECTED, actor=caseworker(COUNTY), reason="x")
    )
    records += [accepted.submitted(), accepted.assigned(COUNTY)]
    records.append(
        accepted.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=caseworker(COUNTY))
    )
    records.append(
        accepted.emit(EventType.REJECTED, State.REJECTED, actor=caseworker(COUNTY), reason="y")
    )
    records += [moved.submitted(), moved.assigned(COUNTY)]
    records.append(moved.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=caseworker(COUNTY)))
    records.append(moved.escalated(CITY, Tier.MUNICIPAL))  # dispatched again, at the city
    records.append(
        moved.emit(EventType.REJECTED, State.REJECTED, actor=caseworker(CITY), reason="z")
    )
    records += [hotline.submitted(), hotline.assigned(COUNTY)]
    zj = Actor(id="sys-zj-12345", role=Role.SYSTEM, division_code="330000")
    records.append(hotline.emit(EventType.REJECTED, State.REJECTED, actor=zj, reason="重复工单"))
    _plan(engine, load_rules(), records)
    by_request = {row.request_id: row for row in rows(engine, rule="concluded", channel="email")}
    first = by_request[at_intake.request.request_id]
    second = by_request[accepted.request.request_id]
    assert first.subject.endswith("未予受理") and second.subject.endswith("终止办理")
    assert "如有异议" in first.body and "未予受理" not in second.body
    assert by_request[moved.request.request_id].subject.endswith("终止办理")
    refused = by_request[hotline.request.request_id]
    assert refused.subject.endswith("未予受理") and "重复工单" in refused.body
    assert "暂无可办理" not in refused.body


def test_a_mobile_only_enterprise_is_texted_once_a_gateway_is_configured(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """No e-mail on file, a mobile: without a gateway nothing can reach it (and the notifier
    says which rules' texts go nowhere); with one it is texted the question itself."""
    request = make_request()
    request.enterprise.contact_email = None
    request.enterprise.contact_phone = "13812345678"
    f = RecordFactory(request)
    records = [f.submitted(), f.assigned(COUNTY)]
    asked = f.emit(
        EventType.INFO_REQUESTED,
        State.AWAITING_ENTERPRISE,
        actor=caseworker(COUNTY),
        reason="请补充近三年财务报表",
    )
    with caplog.at_level(logging.WARNING, logger="tierflow.notifier"):
        load_checked_rules(Settings(), Templates())
    assert "request_received" in caplog.text and "info_requested" in caplog.text
    assert "no [sms] gateway" in caplog.text
    _plan(engine, load_rules(), records)
    assert rows(engine, channel="sms") == [] and rows(engine, rule="request_received") == []

    rules = _with_gateway()
    assert rules.texts_unsent() == []
    planner = Planner(engine, rules, Templates(), "http://console", clock=lambda: CLOCK)
    [record] = project(engine, [asked])
    record_rows(engine, planner.plan(event_from_transition(record), record))
    [text] = rows(engine, rule="info_requested")
    assert text.channel.value == "sms" and text.recipient.startswith("enterprise:")
    assert text.subject.startswith(f"您的服务请求（编号 {request.request_id}）需补充材料：")
    assert "请补充近三年财务报表" in text.subject and len(text.subject) <= 300


def test_mails_to_the_enterprise_give_its_page_on_the_portal_once_configured(
    engine: Engine,
) -> None:
    """The mails said 请登录企业服务门户 with no address: with the portal's address configured
    (``TIERFLOW_NOTIFIER_PORTAL_URL``, ``{request_id}`` replaced) they give the request's page;
    a text message carries no link (carriers refuse them), and staff mails keep the console."""
    f = RecordFactory(make_request())
    portal = "https://portal.example.gov.cn/requests/{request_id}"
    _plan(engine, _with_gateway(), [f.submitted(), f.assigned(COUNTY)], portal)
    page = f"https://portal.example.gov.cn/requests/{f.request.request_id}"
    [received] = _told(engine, "request_received")
    assert f"在企业服务门户查看：{page}" in received
    texts = [row.subject for row in rows(engine, rule="request_received", channel="sms")]
    assert texts and all("portal.example" not in text for text in texts)  # what is texted
    other = RecordFactory(make_request())
    _plan(engine, load_rules(), [other.submitted()])
    [plain] = [t for t in _told(engine, "request_received") if other.request.request_id in t]
    assert "在企业服务门户查看" not in plain  # no address configured: none given


def test_units_whose_parts_ended_with_the_request_hear_they_need_do_no_more(
    engine: Engine,
) -> None:
    """协办: the enterprise withdraws while two units' parts are open: both units' caseworkers
    hear their part ended with it (the request leaves their sight), and the holder's hear of
    the withdrawal as before."""
    talent, tech = "zj-330105-sme", "zj-330108-sme"
    for user, unit in (("cw-county", COUNTY), ("cw-talent", talent), ("cw-tech", tech)):
        create_user(engine, user, Role.CASEWORKER, unit)
    f = RecordFactory(make_request())
    enterprise = f.request.submitted_by
    records = [
        f.submitted(),
        f.assigned(COUNTY),
        f.emit(
            EventType.WITHDRAWN,
            State.WITHDRAWN,
            actor=enterprise,
            reason="已自行解决",
            details={"ended_parts": [talent, tech]},
        ),
    ]
    _plan(engine, load_rules(), records)
    ended = rows(engine, rule="part_ended", channel="inbox")
    assert sorted(r.user_id or "" for r in ended) == ["cw-talent", "cw-tech"]
    assert ended[0].subject.startswith("【协办终止】")
    assert "已由企业撤回，贵单位的协办事项随之终止" in ended[0].body
    assert [r.user_id for r in rows(engine, rule="withdrawn")] == ["cw-county"]


def test_a_conclusion_invites_a_rating_only_while_the_request_has_none(engine: Engine) -> None:
    """办结告知: the first conclusion invites the enterprise to rate; after it rated and the
    follow-up sent the request back (重办), the second conclusion says when it closes without
    inviting a rating the workflow would refuse (one rating per request)."""
    f = RecordFactory(make_request())
    unit = caseworker(COUNTY)
    closes = {"close_due_at": "2026-12-11T09:30:00+00:00"}
    records = [f.submitted(), f.assigned(COUNTY)]
    records.append(f.emit(EventType.RESOLVED, State.RESOLVED, actor=unit, details=closes))
    records.append(f.rated(5))
    records.append(f.emit(EventType.REOPENED, State.IN_PROGRESS, details={"cause": "redo"}))
    records.append(f.emit(EventType.RESOLVED, State.RESOLVED, actor=unit, details=closes))
    _plan(engine, load_rules(), records)
    first, second = _told(engine, "concluded")
    assert "2026年12月11日 17:30 关闭；您可通过企业服务门户对本次服务作出评价。" in first
    assert "2026年12月11日 17:30 关闭。" in second and "评价" not in second


def test_a_withdrawal_another_system_recorded_is_confirmed_to_the_enterprise(
    engine: Engine,
) -> None:
    """撤单 recorded by a hotline's system in its own name: the enterprise hears it is done
    (a withdrawal it did not ask for is noticed); its own, through its portal, needs no
    confirmation."""
    for name, actor in (
        ("hotline", system_client("hotline-12345", "withdraw")),
        ("own", Actor(id=make_request().enterprise.uscc, role=Role.ENTERPRISE)),
    ):
        f = RecordFactory(make_request(f"req-withdrawn-by-{name}"))
        withdrawn = f.emit(EventType.WITHDRAWN, State.WITHDRAWN, actor=actor, reason="来电撤回")
        _plan(engine, load_rules(), [f.submitted(), f.assigned(COUNTY), withdrawn])
    told = [r.request_id for r in rows(engine, rule="withdrawal_confirmed", channel="email")]
    assert told == ["req-withdrawn-by-hotline"]
