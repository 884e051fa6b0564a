"""The texts the enterprise gets: each says its request number and what happened, in at most
two messages (70 characters each in Chinese), and carries no link (carriers refuse links on
domains not registered with them); a supervisor alert names the tier it happened at."""

from __future__ import annotations

import pytest

from schemas.domain import State, Tier
from schemas.lifecycle import EventType, TransitionRecord
from tests.utils.factories import RecordFactory, caseworker, make_request
from workers.notifier.templates import Templates

TEMPLATES = Templates()
COUNTY = "zj-330106-sme"
DUE = "2026-12-10T09:30:00+00:00"


def _records() -> dict[str, TransitionRecord]:
    f = RecordFactory(make_request("walkin-7f3a2c9b1d04"))
    f.submitted()
    f.assigned(COUNTY)
    cw = caseworker(COUNTY)
    question = "请提供近三年财务报表，模板见 https://pan.example.com/s/abc"
    return {
        "request_received": f.emit(EventType.SUBMITTED, State.ASSIGNED),
        "request_accepted": f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw),
        "info_requested": f.emit(
            EventType.INFO_REQUESTED, State.AWAITING_ENTERPRISE, actor=cw, reason=question
        ),
        "extension_granted": f.emit(
            EventType.EXTENSION_APPROVED, details={"days": 3, "resolution_due_at": DUE}
        ),
        "suspension_granted": f.emit(
            EventType.SUSPENSION_APPROVED, details={"days": 5, "suspended_until": DUE}
        ),
        "redo_for_enterprise": f.emit(EventType.REOPENED, State.ASSIGNED, reason="回访不满意"),
        "concluded": f.emit(EventType.REJECTED, State.REJECTED, actor=cw, reason="不属服务范围"),
        "withdrawal_confirmed": f.emit(EventType.WITHDRAWN, State.WITHDRAWN),
        "please_rate": f.emit(EventType.CLOSED, State.CLOSED, details={"rating_due_at": DUE}),
        "closed_no_reply": f.emit(EventType.CLOSED, State.CLOSED, details={"cause": "no_reply"}),
    }


@pytest.mark.parametrize("template", sorted(_records()))
def test_a_text_names_the_request_fits_two_messages_and_has_no_link(template: str) -> None:
    record = _records()[template]
    text = TEMPLATES.render(template, "zh-CN", record, "https://console/x").sms
    assert record.request_id in text and len(text) <= 140, text
    assert "http" not in text
    assert not any(stop + "。" in text for stop in "。？！")  # no doubled full stop


def test_the_texts_that_were_bare_subjects_say_what_the_enterprise_needs() -> None:
    records = _records()

    def text(template: str) -> str:
        return TEMPLATES.render(template, "zh-CN", records[template], "https://console/x").sms

    assert "经批准暂停办理 5 个工作日，最迟于 2026年12月10日 17:30 恢复" in text(
        "suspension_granted"
    )
    assert "如非本人申请，请尽快联系受理单位" in text("withdrawal_confirmed")
    assert "未予受理，原因详见邮件或企业服务门户；如有异议" in text("concluded")  # at intake
    assert "需补充材料：请提供近三年财务报表，模板见（链接见企业服务门户）。" in text(
        "info_requested"
    )


def test_a_supervisor_alert_names_the_tier_it_happened_at() -> None:
    f = RecordFactory(make_request())
    f.submitted()
    f.assigned(COUNTY, Tier.COUNTY)
    at_county = f.emit(EventType.SUPERVISOR_ALERT, details={"mode": "supervise_in_place"})
    message = TEMPLATES.render("supervisor_alert", "zh-CN", at_county, "https://console/x")
    assert "在县级已超时" in message.subject and "国家级" not in message.body
    assert "已无上级可升级" not in message.body
    english = TEMPLATES.render("supervisor_alert", "en", at_county, "https://console/x")
    assert "at the county tier" in english.subject


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("template", sorted(_records()))
def test_every_mail_to_the_enterprise_gives_its_page_on_the_portal(
    template: str, locale: str
) -> None:
    """Every mail the enterprise gets links its request's page on the portal once the
    portal's address is configured (a text carries no link)."""
    page = "https://portal.example.gov.cn/requests/walkin-7f3a2c9b1d04"
    message = TEMPLATES.render(template, locale, _records()[template], "x", portal=page)
    assert page in message.body and page not in message.sms
