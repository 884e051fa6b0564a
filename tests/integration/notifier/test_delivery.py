"""A warning, a breach and an escalation reach the right people by the right channels, once.

Real components: the session Kafka broker, a real SMTP server (aiosmtpd), a migrated SQLite
read model, and ``tierflow notifier`` itself (in a thread here; as a process in the kill test).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, update

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import all_sent, project, rows, warning_breach_escalation
from tests.utils.notifier_rig import (
    NotifierRig,
    duplicate_events,
    metric_value,
    metrics_text,
    notifier_thread,
)
from tierflow.db.engine import begin_write
from tierflow.db.models import ServiceRequest
from tierflow.db.notification_models import DeliveryStatus
from tierflow_dev.devstack.smtp_sink import SmtpSink

pytestmark = pytest.mark.usefixtures("people")

# (channel, recipient, rule) of the five events, by the packaged rules
EXPECTED = {
    ("email", "enterprise:{rid}", "request_received"),
    ("inbox", "user:cw-county", "assigned"),
    ("email", "user:cw-county", "assigned"),
    ("inbox", "user:cw-county", "sla_warning"),
    ("email", "user:cw-county", "sla_warning"),
    ("inbox", "user:lead-county", "sla_warning"),
    ("inbox", "user:cw-county", "sla_breached"),
    ("email", "user:cw-county", "sla_breached"),
    ("inbox", "user:lead-county", "sla_breached"),
    ("email", "user:lead-county", "sla_breached"),
    ("inbox", "user:lead-city", "sla_breached"),  # supervisors of the tier above
    ("inbox", "user:cw-city", "escalated"),
    ("email", "user:cw-city", "escalated"),
    ("inbox", "user:lead-city", "escalated"),
    ("email", "user:lead-city", "escalated"),
    ("email", "enterprise:{rid}", "request_transferred"),  # 转办告知: now the city handles it
}
MAILS = {
    ("wang@example.com", "您的服务请求已收到"),
    ("cw-county@staff.example.org", "【待办】"),
    ("cw-county@staff.example.org", "【预警】"),
    ("cw-county@staff.example.org", "【超时】"),
    ("lead-county@staff.example.org", "【超时】"),
    ("cw-city@staff.example.org", "【升级】"),
    ("lead-city@staff.example.org", "【升级】"),
    ("wang@example.com", "您的服务请求已转由其他单位办理"),
}


def mail_key(to: str, subject: str) -> tuple[str, str]:
    prefix = next(p for _, p in MAILS if subject.startswith(p))
    return to, prefix


async def test_each_person_hears_once_by_the_channels_of_the_rules(
    engine: Engine, smtp: SmtpSink, make_rig: Callable[..., NotifierRig]
) -> None:
    rig = make_rig(partitions=3)
    records = warning_breach_escalation()
    rid = records[0].request_id
    project(engine, records)
    settings = rig.settings(smtp)
    with notifier_thread(settings):
        rig.publish(records)
        found = await eventually(
            lambda: all_sent(engine, len(EXPECTED)),
            timeout=60,
            what="every notification recorded and sent",
            detail=lambda: [(r.channel, r.recipient, r.rule, r.status) for r in rows(engine)],
        )
        assert {(r.channel.value, r.recipient, r.rule) for r in found} == {
            (c, who.format(rid=rid), rule) for c, who, rule in EXPECTED
        }
        assert {r.status for r in found} == {DeliveryStatus.SENT}
        mails = await eventually(
            lambda: smtp.snapshot() if len(smtp.snapshot()) >= len(MAILS) else None
        )
        assert Counter(mail_key(m.rcpt_tos[0], m.message["Subject"]) for m in mails) == Counter(
            MAILS
        )

        # the same five events again (a redelivery): nothing new is recorded or sent
        rig.publish(records)
        await eventually(
            lambda: duplicate_events(settings) >= 5,
            timeout=60,
            what="the redelivered events read",
        )
        assert len(rows(engine)) == len(EXPECTED)
        assert all(r.status is DeliveryStatus.SENT for r in rows(engine))
        assert len(smtp.snapshot()) == len(MAILS)
        text = metrics_text(settings)
        assert metric_value(text, "tierflow_notifications_sent_total", channel="email") == len(
            MAILS
        )
        assert metric_value(text, "tierflow_notifications_sent_total", channel="inbox") == 8


async def test_a_mail_carries_its_headers_and_the_rendered_body(
    engine: Engine, smtp: SmtpSink, rig: NotifierRig
) -> None:
    records = project(engine, warning_breach_escalation()[:4])
    settings = rig.settings(smtp)
    with notifier_thread(settings):
        rig.publish(records)
        mails = await eventually(
            lambda: [
                m
                for m in smtp.snapshot()
                if "【超时】" in m.message["Subject"]
                and m.rcpt_tos == ("cw-county@staff.example.org",)
            ]
        )
    mail = mails[0]
    row = next(
        r for r in rows(engine, rule="sla_breached", channel="email", recipient="user:cw-county")
    )
    assert mail.message["From"] == settings.smtp_from
    assert mail.message["To"] == "cw-county@staff.example.org"
    assert mail.message["Subject"] == f"【超时】工单 {records[0].request_id} 已超过响应时限"
    assert mail.message["Message-ID"] == f"<notification-{row.id}@tierflow.localhost>"
    assert mail.message["Content-Language"] == "zh-CN"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message.get_content_charset() == "utf-8"
    assert "工单「申请科技型中小企业信用贷款对接」已超过响应时限" in mail.body
    assert f"http://127.0.0.1:8000/console/requests/{records[0].request_id}" in mail.body
    assert mail.mail_from == "noreply@tierflow.localhost"


@pytest.mark.parametrize(
    "on_file",
    ["wang@example.com\nBcc: someone@example.net", "wang@example.com, someone@example.net"],
    ids=["a line break", "two addresses"],
)
async def test_an_enterprise_email_on_file_that_is_not_one_address_is_dead_lettered(
    engine: Engine, smtp: SmtpSink, rig: NotifierRig, on_file: str
) -> None:
    """Stored before the edges checked it (they now refuse it): a line break would fail the
    mail's header in every round, a comma would add a recipient. The rest still go out."""
    records = project(engine, warning_breach_escalation())
    rid = records[0].request_id
    with begin_write(engine) as conn:
        where = ServiceRequest.request_id == rid  # type: ignore[arg-type]
        conn.execute(update(ServiceRequest).where(where).values(contact_email=on_file))
    with notifier_thread(rig.settings(smtp)):
        rig.publish(records)
        found = await eventually(
            lambda: all_sent(engine, len(EXPECTED)),
            timeout=60,
            what="every notification settled",
            detail=lambda: [(r.channel, r.recipient, r.status) for r in rows(engine)],
        )
        mails = await eventually(lambda: smtp.snapshot() if len(smtp.snapshot()) >= 6 else None)
    refused = [r for r in found if r.recipient == f"enterprise:{rid}"]
    assert {(r.rule, r.status, r.last_error) for r in refused} == {
        (rule, DeliveryStatus.DEAD, "the e-mail on file is not one address")
        for rule in ("request_received", "request_transferred")
    }
    assert {r.status for r in found if r not in refused} == {DeliveryStatus.SENT}
    assert len(mails) == 6
    recipients = {to for mail in mails for to in mail.rcpt_tos}
    assert not {"wang@example.com", "someone@example.net"} & recipients
