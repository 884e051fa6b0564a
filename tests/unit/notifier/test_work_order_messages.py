"""Work-order events in the packaged rules: who hears of them, and what the message says."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import pytest

from schemas.domain import Role, State, Tier
from schemas.lifecycle import EventType, TransitionRecord
from schemas.request import SYSTEM_ACTOR
from tests.utils.factories import ENTERPRISE, RecordFactory, caseworker, make_request
from tests.utils.language import mixed_punctuation
from tierflow.settings import Settings
from workers.notifier.process import load_checked_rules
from workers.notifier.templates import Templates

RULES = load_checked_rules(Settings(), Templates())
TEMPLATES = Templates()


def _rules_for(event: EventType, **details: object) -> set[str]:
    return {r.name for r in RULES.for_event(event) if r.applies(details)}


def test_a_close_for_no_reply_tells_the_enterprise_instead_of_asking_for_a_rating() -> None:
    assert _rules_for(EventType.CLOSED, cause="no_reply") == {
        "closed_no_reply",
        "closed_no_reply_unit",
    }
    due = "2026-12-10T09:00:00+00:00"
    assert _rules_for(EventType.CLOSED, rating_due_at=due) == {"please_rate"}
    # no window in its policy, or rated already: nothing to ask (the close records no due)
    assert _rules_for(EventType.CLOSED) == set()


def test_the_unit_hears_what_changes_its_work() -> None:
    """The enterprise's materials (the clocks run again), a redo (重办), a handler named, a
    resumption and a withdrawal each reach the people they change the work of."""
    assert _rules_for(EventType.INFO_PROVIDED) == {"enterprise_replied"}
    assert _rules_for(EventType.REOPENED, cause="follow_up") == {"reopened", "redo_for_enterprise"}
    assert _rules_for(EventType.HANDLER_CHANGED) == {"handler_named"}
    assert _rules_for(EventType.RESUMED) == {"handling_resumed"}
    assert _rules_for(EventType.ENTERPRISE_WAIT_EXPIRED) == {"handling_resumed"}
    assert _rules_for(EventType.WITHDRAWN) == {"withdrawn"}
    # a supervisor's comment is an instruction (批示) for the unit; a caseworker's is a note
    commented = EventType.COMMENTED
    assert {r.name for r in RULES.for_event(commented) if r.applies({}, Role.SUPERVISOR)} == {
        "instruction"
    }
    assert not [r for r in RULES.for_event(commented) if r.applies({}, Role.CASEWORKER)]
    (named,) = RULES.for_event(EventType.HANDLER_CHANGED)
    assert [s.audience.value for s in named.send] == ["handler"]


def test_applications_go_to_the_deciders_and_decisions_back_to_the_unit() -> None:
    assert _rules_for(EventType.SUSPENSION_REQUESTED) == {"application_requested"}
    # a 退单 and a 延期 also go to the dispatch desk above, which decides them too
    for asked in (EventType.RETURN_REQUESTED, EventType.EXTENSION_REQUESTED):
        assert _rules_for(asked) == {"application_requested", "return_to_dispatch"}
    (to_desk,) = [r for r in RULES.for_event(EventType.RETURN_REQUESTED) if r.name.endswith("h")]
    assert [s.audience.value for s in to_desk.send] == ["dispatch_desk"]
    assert _rules_for(EventType.EXTENSION_APPROVED) == {"application_decided", "extension_granted"}
    assert _rules_for(EventType.SUSPENSION_APPROVED) == {
        "application_decided",
        "suspension_granted",
    }
    assert _rules_for(EventType.REMINDED) == {"reminded"}
    assert _rules_for(EventType.APPEAL_DECISION_OVERDUE) == {"appeal_decision_overdue"}
    (overdue,) = RULES.for_event(EventType.APPEAL_DECISION_OVERDUE)
    assert [s.audience.value for s in overdue.send] == ["supervisors_above"]  # the deciders
    # 退单, 延期, 挂起: those who decide; the dispatch desk decides no 挂起
    late = {r.name: r for r in RULES.for_event(EventType.DECISION_OVERDUE)}
    assert [s.audience.value for s in late["decision_overdue"].send] == ["supervisors_above"]
    desk = late["decision_overdue_desk"]
    assert [s.audience.value for s in desk.send] == ["dispatch_desk"]
    assert desk.applies({"kind": "return"}) and not desk.applies({"kind": "suspend"})


COUNTY = "zj-330106-sme"
PART = {"co_handler": "county-talent", "part_due_at": "2026-12-04T09:30:00+00:00"}
REPLY_BY = "2027-01-14T02:00:00+00:00"
REPLY_BY_Z = "2027-01-14T02:00:00Z"  # the same instant, written with a Z
# the details each event's record carries
DETAILS: dict[EventType, dict[str, object]] = {
    EventType.REMINDED: {"clock": "sign_for", "deadline": "2026-12-02T01:00:00+00:00"},
    EventType.EXTENSION_REQUESTED: {"days": 3},
    EventType.RETURN_REQUESTED: {"return_reason": "outside_region"},
    EventType.SUSPENSION_REQUESTED: {"suspend_reason": "third_party", "days": 5},
    EventType.SUSPENSION_APPROVED: {"days": 5, "suspended_until": "2026-12-09T01:00:00+00:00"},
    EventType.EXTENSION_APPROVED: {"days": 3, "resolution_due_at": "2026-12-10T09:00:00+00:00"},
    EventType.CO_HANDLER_ADDED: PART,
    EventType.PART_WAIVED: PART,
    EventType.SUPERVISION_OPENED: {"cause": "chase", "clock": "response", "reply_due_at": REPLY_BY},
    EventType.REPRIMANDED: {"supervised_institution": COUNTY, "reply_due_at": REPLY_BY_Z},
    EventType.CLOSED: {"cause": "no_reply"},
    EventType.RATED: {"rating": 2, "stage": "intake"},  # 受理评价: the lead hears of a bad one
    EventType.INFO_PROVIDED: {  # 补充材料 with documents: named, read on the case page
        "attachments": [{"name": "报表-2025.pdf", "url": "https://files.example.org/r.pdf"}]
    },
    EventType.REOPENED: {"cause": "follow_up", "redo": 1},
    EventType.HANDLER_CHANGED: {"handler_id": "cw-2", "previous": "cw-1", "how": "transfer"},
    EventType.RESUMED: {"cause": "suspension_ended", "paused_seconds": 3600},
    EventType.WITHDRAWN: {},
    EventType.COMMENTED: {},
    EventType.APPEAL_DECISION_OVERDUE: {
        "appealed_at": "2027-04-02T01:00:00+00:00",
        "decide_by": "2027-04-12T01:00:00+00:00",
    },
    EventType.DECISION_OVERDUE: {
        "kind": "return",
        "asked_at": "2026-12-01T01:00:00+00:00",
        "decide_by": "2026-12-02T01:00:00+00:00",
        "applicant_institution": COUNTY,
    },
}
# the template of each event's message, and a phrase the message shows in each locale
PHRASES = [
    (EventType.REMINDED, "reminded", "zh-CN", "签收时限"),
    (EventType.REMINDED, "reminded", "en", "sign-for deadline"),
    (EventType.EXTENSION_REQUESTED, "application_requested", "zh-CN", "延期申请"),
    (EventType.EXTENSION_REQUESTED, "application_requested", "en", "An extension"),
    (EventType.RETURN_REQUESTED, "application_requested", "zh-CN", "退单申请"),
    (EventType.RETURN_REQUESTED, "application_requested", "en", "A return"),
    # the reason's code in the reader's words, before what the unit wrote
    (EventType.RETURN_REQUESTED, "application_requested", "zh-CN", "理由：非本辖区；等待银行授信"),
    (
        EventType.RETURN_REQUESTED,
        "application_requested",
        "en",
        "Why: Outside this unit's region; ",
    ),
    (
        EventType.SUSPENSION_REQUESTED,
        "application_requested",
        "zh-CN",
        "理由：等待第三方意见或材料；",
    ),
    (EventType.SUSPENSION_APPROVED, "application_decided", "zh-CN", "挂起申请已批准"),
    (EventType.SUSPENSION_APPROVED, "application_decided", "en", "suspension of service request"),
    (EventType.EXTENSION_APPROVED, "extension_granted", "zh-CN", "2026年12月10日 17:00"),
    (EventType.EXTENSION_APPROVED, "extension_granted", "en", "2026-12-10 17:00"),
    (EventType.SUSPENSION_APPROVED, "suspension_granted", "zh-CN", "最迟于 2026年12月9日 09:00"),
    (EventType.SUSPENSION_APPROVED, "suspension_granted", "en", "resumes by 2026-12-09 09:00"),
    (EventType.CO_HANDLER_ADDED, "co_handler_added", "zh-CN", "请签收并于 2026年12月4日 17:30"),
    (EventType.CO_HANDLER_ADDED, "co_handler_added", "en", "by 2026-12-04 17:30"),
    (EventType.PART_WAIVED, "part_settled", "zh-CN", "已免除"),
    (EventType.PART_WAIVED, "part_settled", "en", "waived"),
    (EventType.SUPERVISION_OPENED, "supervision_opened", "zh-CN", "2027年1月14日 10:00 前书面回复"),
    (EventType.SUPERVISION_OPENED, "supervision_opened", "en", "by 2027-01-14 10:00"),
    (EventType.REPRIMANDED, "reprimanded", "zh-CN", "已记录通报"),
    (EventType.REPRIMANDED, "reprimanded", "en", "A reprimand is recorded"),
    (EventType.CLOSED, "closed_no_reply", "zh-CN", "未收到回复"),
    (EventType.CLOSED, "closed_no_reply", "en", "no reply"),
    (
        EventType.APPEAL_DECISION_OVERDUE,
        "appeal_decision_overdue",
        "zh-CN",
        "应于 2027年4月12日 09:00 前审核",
    ),
    (EventType.APPEAL_DECISION_OVERDUE, "appeal_decision_overdue", "en", "by 2027-04-12 09:00"),
    (
        EventType.DECISION_OVERDUE,
        "decision_overdue",
        "zh-CN",
        "退单申请应于 2026年12月2日 09:00 前审批",
    ),
    (EventType.DECISION_OVERDUE, "decision_overdue", "en", "[Decision overdue] Return of"),
    (EventType.INFO_PROVIDED, "info_provided", "zh-CN", "补充了材料（"),  # 登记 by the unit
    (EventType.INFO_PROVIDED, "info_provided", "zh-CN", "附件：报表-2025.pdf（在工单页面查看）"),
    (EventType.INFO_PROVIDED, "info_provided", "en", "(recorded by "),
    (EventType.INFO_PROVIDED, "info_provided", "en", "Documents: 报表-2025.pdf (on the case"),
    (EventType.REOPENED, "reopened", "zh-CN", "回访时企业表示问题未解决"),
    (EventType.REOPENED, "reopened", "en", "the enterprise said the matter is not solved"),
    (EventType.HANDLER_CHANGED, "handler_named", "zh-CN", "」转交给您。"),
    (EventType.HANDLER_CHANGED, "handler_named", "en", "transferred to you"),
    (EventType.RESUMED, "handling_resumed", "zh-CN", "已恢复办理，时限恢复计时"),
    (EventType.RESUMED, "handling_resumed", "en", "its clocks run"),
    (EventType.WITHDRAWN, "withdrawn", "zh-CN", "已撤回工单"),
    (EventType.WITHDRAWN, "withdrawn", "en", "needs no further handling"),
    (EventType.COMMENTED, "instruction", "zh-CN", "」批示：\n\n等待银行授信审批"),
    (EventType.COMMENTED, "instruction", "en", 'wrote on "'),
    (EventType.RATED, "bad_rating", "zh-CN", "的受理评分为 2 分"),
    (EventType.RATED, "bad_rating", "en", "rated the intake of"),
]


@pytest.mark.parametrize(
    ("locale", "phrase"), [("zh-CN", "」的评分为 1 分（满分 5 分）"), ("en", '" 1 out of 5')]
)
def test_a_bad_rating_of_the_conclusion_is_told(locale: str, phrase: str) -> None:
    """The workflow records a conclusion's rating without a stage (only the intake's has
    one): the template told of intake ratings alone, and failed on every other."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.rated(1, "办理太慢")
    assert "stage" not in record.details
    message = TEMPLATES.render("bad_rating", locale, record, "https://console/requests/x")
    assert phrase in message.body and "办理太慢" in message.body


@pytest.mark.parametrize(("event", "template", "locale", "phrase"), PHRASES)
def test_work_order_messages_render(event, template, locale, phrase) -> None:
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.emit(
        event,
        State.CLOSED if event is EventType.CLOSED else None,
        actor=caseworker(COUNTY),
        reason="等待银行授信审批",
        details=DETAILS[event],
    )
    message = TEMPLATES.render(template, locale, record, "https://console/requests/x")
    assert phrase in message.subject + message.body
    if locale == "zh-CN":
        assert mixed_punctuation(message.subject + "\n" + message.body) == [], message
    assert "王芳" not in message.body and "13800000000" not in message.body  # no contact


def test_messages_name_tiers_categories_clocks_and_the_engines_reasons_in_words() -> None:
    """No code reaches a person: 县级/市级, not county/municipal; 响应超时, not
    sla_breach:response; 投融资服务, not financing."""
    records = RecordFactory(make_request())
    records.submitted()
    assigned = records.assigned(COUNTY)
    breached = records.breached("sign_for")
    escalated = records.escalated("zj-330100-sme", Tier.MUNICIPAL)
    up = TEMPLATES.render("escalated", "zh-CN", escalated, "http://console").body
    assert "已从县级升级至市级" in up and "原因：响应超时" in up
    to_unit = TEMPLATES.render("assigned", "zh-CN", assigned, "http://console").body
    assert "类别：投融资服务　优先级：一般" in to_unit
    late = TEMPLATES.render("sla_breached", "zh-CN", breached, "http://console")
    assert "已超过签收时限" in late.subject
    english = TEMPLATES.render("sla_breached", "en", breached, "http://console").body
    assert "missed its sign-for deadline" in english
    for text in (up, to_unit, late.subject, late.body):
        assert mixed_punctuation(text) == [], text
        assert not {"county", "municipal", "financing", "sla_breach", "sign_for"} & set(
            text.replace("（", " ").replace("）", " ").split()
        ), text


@pytest.mark.parametrize(
    ("locale", "phrase"),
    [
        ("zh-CN", "请于 2026年12月7日 17:00 前回访企业"),
        ("en", "call the enterprise by 2026-12-07 17:00"),
    ],
)
def test_the_follow_up_desk_hears_when_its_call_falls_due(locale: str, phrase: str) -> None:
    """The policy sets how many working days after the conclusion the desk calls; the message
    names the instant the workflow computed, not "the next working day"."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.emit(EventType.RESOLVED, State.RESOLVED, actor=caseworker(COUNTY), reason="已对接")
    due = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    record = record.model_copy(
        update={"summary": record.summary.model_copy(update={"follow_up_due_at": due})}
    )
    message = TEMPLATES.render("follow_up_due", locale, record, "https://console/requests/x")
    assert phrase in message.body
    if locale == "zh-CN":
        assert mixed_punctuation(message.subject + "\n" + message.body) == [], message


def test_the_unit_hears_its_sign_for_deadline_and_the_enterprise_who_handled_it() -> None:
    """签收 comes first: the unit's 【待办】 names its deadline; the enterprise's notice of the
    conclusion names the unit that handled the request, by its name."""
    f = RecordFactory(make_request())
    f.submitted()
    assigned = f.assigned(COUNTY, Tier.COUNTY)
    due = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assigned = assigned.model_copy(
        update={"summary": assigned.summary.model_copy(update={"sign_for_due_at": due})}
    )
    body = TEMPLATES.render("assigned", "zh-CN", assigned, "http://console").body
    assert "请及时签收并受理" in body and "签收期限：2026年12月1日 17:00" in body
    resolved = f.emit(EventType.RESOLVED, State.RESOLVED, actor=caseworker(COUNTY), reason="已对接")
    units = {COUNTY: "杭州市西湖区中小企业服务中心"}
    body = TEMPLATES.render("concluded", "zh-CN", resolved, "http://console", lambda: units).body
    assert "办理单位：杭州市西湖区中小企业服务中心" in body
    assert mixed_punctuation(body) == []


def _zh_template(name: str) -> str:
    return (resources.files("workers.notifier") / "templates" / "zh-CN" / f"{name}.j2").read_text(
        "utf-8"
    )


def test_messages_call_a_request_as_their_reader_does() -> None:
    """Staff call a request 工单, as the console does; an enterprise knows its own matter as
    您的服务请求 (a 工单 is the institution's ticket, not the enterprise's)."""
    to_enterprise = {
        rule.template for rule in RULES.rule if any(s.audience == "enterprise" for s in rule.send)
    }
    to_staff = {rule.template for rule in RULES.rule} - to_enterprise
    assert to_enterprise and to_staff
    for name in sorted(to_enterprise):
        text = _zh_template(name)
        assert "服务请求" in text and "工单" not in text, name
    for name in sorted(to_staff):
        assert "服务请求" not in _zh_template(name), name


def test_a_resumption_without_a_reason_says_none() -> None:
    """A caseworker's 恢复 may carry no text: the message ends at 恢复计时, with no dash."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.emit(EventType.RESUMED, State.IN_PROGRESS, actor=caseworker(COUNTY))
    message = TEMPLATES.render("handling_resumed", "zh-CN", record, "https://console/x")
    assert message.body.splitlines()[0].endswith("已恢复办理，时限恢复计时。"), message.body


@pytest.mark.parametrize(
    ("locale", "phrase"),
    [("zh-CN", "目前办理时限暂停计时，恢复计时后期限相应顺延"), ("en", "stands still for now")],
)
def test_an_extension_granted_while_the_clocks_stand_still_says_so(locale, phrase) -> None:
    """Approved while the request waits for the enterprise (or is suspended), the extension
    has no deadline yet: the enterprise read "due by -"."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.emit(EventType.EXTENSION_APPROVED, details={"days": 2, "resolution_due_at": None})
    message = TEMPLATES.render("extension_granted", locale, record, "https://console/x")
    assert phrase in message.body and "-。" not in message.body and "by -" not in message.body


def test_what_the_enterprise_writes_reaches_the_unit() -> None:
    """企业留言: a comment the enterprise sends through its portal goes to the holding unit's
    caseworkers (a supervisor's is an instruction; a caseworker's own note goes nowhere)."""
    commented = EventType.COMMENTED
    by_enterprise = [r for r in RULES.for_event(commented) if r.applies({}, Role.ENTERPRISE)]
    assert [r.name for r in by_enterprise] == ["enterprise_message"]
    assert [s.audience.value for s in by_enterprise[0].send] == ["caseworkers"]
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.commented("问题还没解决，请再联系我们", author=ENTERPRISE)
    message = TEMPLATES.render("enterprise_message", "zh-CN", record, "https://console/x")
    assert message.subject.startswith("【企业留言】")
    assert "问题还没解决，请再联系我们" in message.body and "https://console/x" in message.body


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_enterprise_is_told_until_when_and_where_to_answer(locale: str) -> None:
    """补充材料 names the day the wait ends and the portal; a reply to the mail reaches nobody."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.emit(EventType.INFO_REQUESTED, State.AWAITING_ENTERPRISE, reason="请补充财务报表")
    record.summary.paused_until = datetime(2026, 12, 15, 9, 30, tzinfo=UTC)
    message = TEMPLATES.render("info_requested", locale, record, "https://console/x")
    until = {"zh-CN": "请于 2026年12月15日 17:30 前", "en": "by"}[locale]
    assert until in message.body and ("企业服务门户" in message.body or "portal" in message.body)


def test_the_enterprise_hears_of_a_withdrawal_recorded_for_it_and_of_a_redo() -> None:
    """撤单 recorded by the desk (the enterprise asked by phone): the enterprise is told it is
    done, not when it withdrew itself; 重办: told 已办结 before, it hears of the redo."""
    withdrawn = EventType.WITHDRAWN

    def told(role: Role) -> set[str]:
        return {r.name for r in RULES.for_event(withdrawn) if r.applies({}, role)}

    assert told(Role.DISPATCHER) == {"withdrawn", "withdrawal_confirmed"}
    assert told(Role.ENTERPRISE) == {"withdrawn"}
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.emit(EventType.REOPENED, State.ASSIGNED, reason="回访不满意", details={})
    record.summary.resolution_due_at = datetime(2026, 12, 18, 9, 30, tzinfo=UTC)
    message = TEMPLATES.render("redo_for_enterprise", "zh-CN", record, "https://console/x")
    assert "重新办理，预计于 2026年12月18日 17:30 前办结" in message.body
    assert mixed_punctuation(message.subject + "\n" + message.body) == []


def _unroutable() -> TransitionRecord:
    """The engine's rejection of a request no institution serves, as the workflow records
    it."""
    f = RecordFactory(make_request())
    f.submitted()
    return f.emit(
        EventType.REJECTED,
        State.REJECTED,
        actor=SYSTEM_ACTOR,
        reason="no institution serves division 330106 for financing at any tier",
        details={"cause": "unroutable"},
    )


def test_a_request_no_unit_can_take_is_not_told_as_declined() -> None:
    """The engine's 不予受理 of a request no institution serves: the enterprise reads that
    nobody handles it yet, not a refusal naming a division code and an empty unit."""
    record = _unroutable()
    message = TEMPLATES.render("concluded", "zh-CN", record, "https://console/x")
    assert message.subject.endswith("暂无法办理") and "不予受理" not in message.subject
    assert "330106" not in message.body and "办理单位" not in message.body


def test_the_conclusion_tells_when_the_request_closes_and_where_to_rate() -> None:
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    record = f.resolved()
    record.details["close_due_at"] = "2026-12-10T09:30:00+00:00"
    message = TEMPLATES.render("concluded", "zh-CN", record, "https://console/x")
    assert "本服务请求将于 2026年12月10日 17:30 关闭；您可通过企业服务门户" in message.body
    assert mixed_punctuation(message.subject + "\n" + message.body) == []


def test_a_supervision_reply_names_the_unit_that_replied() -> None:
    """督办回复 of a late co-handling part: the supervisor who opened it reads that the
    co-handler replied, not the holding unit."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned("zj-330106-sme")
    talent = "zj-330105-sme"
    record = f.emit(
        EventType.SUPERVISION_REPLIED,
        actor=caseworker(talent),
        reason="已安排专人对接",
        details={"clock": f"part:{talent}", "supervised_institution": talent},
    )
    names = {"zj-330106-sme": "西湖区中心", talent: "拱墅区中心"}
    message = TEMPLATES.render(
        "supervision_replied", "zh-CN", record, "https://console/x", lambda: names
    )
    assert message.body.startswith("拱墅区中心 已书面回复督办事项")


def test_a_unit_left_with_its_rectification_is_not_told_it_has_nothing_more_to_do() -> None:
    """The rated county's redo goes up to the city: the county hears the request moved, and
    that its 整改 is still its own; a unit with none is told it has nothing more to do."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned("zj-330106-sme")
    up = f.escalated("zj-330100-sme", Tier.MUNICIPAL)
    moved = up.model_copy(
        update={
            "details": {**up.details, "from_institution": "zj-330106-sme"},
            "summary": up.summary.model_copy(update={"rectifying_unit": "zj-330106-sme"}),
        }
    )
    owed = TEMPLATES.render("moved_away", "zh-CN", moved, "https://console/x").body
    assert "差评整改仍由贵单位负责完成" in owed and "贵单位无需继续办理。" not in owed
    plain = up.model_copy(update={"details": {**up.details, "from_institution": "zj-330106-sme"}})
    assert "贵单位无需继续办理。" in TEMPLATES.render("moved_away", "zh-CN", plain, "x").body


def test_a_waived_part_tells_its_co_handler() -> None:
    """免除协办: the co-handling unit hears its part needs nothing more (the holder hears it
    settled, as for a concluded part)."""
    assert _rules_for(EventType.PART_WAIVED) == {"part_settled", "part_waived"}
    (told,) = [r for r in RULES.for_event(EventType.PART_WAIVED) if r.name == "part_waived"]
    assert [s.audience.value for s in told.send] == ["co_handlers"]
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY)
    record = f.emit(EventType.PART_WAIVED, actor=SYSTEM_ACTOR, reason="已另行解决", details=PART)
    body = TEMPLATES.render("part_waived", "zh-CN", record, "https://console/x").body
    assert "贵单位的协办事项已经督办人员同意免除，无需继续办理" in body and "已另行解决" in body


def test_a_late_parts_chase_names_the_co_handler_by_its_name() -> None:
    """催办 of a late co-handling part: the unit reads the co-handler's name, not its id."""
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY)
    talent = "zj-330105-sme"
    record = f.emit(
        EventType.REMINDED,
        details={"clock": f"part:{talent}", "late_since": "2026-12-04T09:30:00+00:00"},
    )
    names = {talent: "拱墅区中小企业服务中心"}
    message = TEMPLATES.render("reminded", "zh-CN", record, "https://console/x", lambda: names)
    assert "拱墅区中小企业服务中心" in message.subject and talent not in message.subject


def test_a_close_for_no_reply_tells_the_unit_it_is_done() -> None:
    """The enterprise sent nothing in time and the request closed: the holding unit hears
    it has nothing more to do, as the enterprise hears its request closed."""
    (told,) = [r for r in RULES.for_event(EventType.CLOSED) if r.name == "closed_no_reply_unit"]
    assert [s.audience.value for s in told.send] == ["caseworkers"]
    assert "closed_no_reply_unit" not in _rules_for(EventType.CLOSED, cause="followed_up")
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY)
    record = f.emit(EventType.CLOSED, State.CLOSED, details={"cause": "no_reply"})
    body = TEMPLATES.render("closed_no_reply_unit", "zh-CN", record, "https://console/x").body
    assert "未收到企业补充的材料，已关闭，贵单位无需继续办理" in body


def test_a_request_no_unit_serves_tells_the_regions_supervisors() -> None:
    """The engine's refusal of a request no unit serves reaches the supervisors above, to
    check the directory (the enterprise is told as before); a unit's refusal does not."""
    assert _rules_for(EventType.REJECTED, cause="unroutable") == {"concluded", "unroutable"}
    assert _rules_for(EventType.REJECTED) == {"concluded"}
    (told,) = [r for r in RULES.for_event(EventType.REJECTED) if r.name == "unroutable"]
    assert [s.audience.value for s in told.send] == ["supervisors_above"]
    body = TEMPLATES.render("unroutable", "zh-CN", _unroutable(), "https://console/x").body
    assert "在本地区找不到可办理的机构" in body and "330106" in body and "投融资" in body
