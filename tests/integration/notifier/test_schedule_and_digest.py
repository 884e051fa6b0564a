"""Working hours and digests, with an injected clock: the planner holds mail that is not
urgent until the next working morning, and the dispatcher gathers a digest user's mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from schemas.events import event_from_transition
from tests.utils.notifier_helpers import project, rows, warning_breach_escalation
from tierflow.db.notification_models import Channel, DeliveryStatus, NotificationPreference
from tierflow_dev.devstack.smtp_sink import SmtpSink
from workers.notifier.channels.email import SmtpConfig
from workers.notifier.dispatcher import Dispatcher
from workers.notifier.metrics import NotifierMetrics
from workers.notifier.planner import Planner, record_rows, waits_for_working_hours
from workers.notifier.rules import Audience, load_rules
from workers.notifier.templates import Templates

HOLIDAY_3AM = datetime(2026, 10, 1, 19, 0, tzinfo=UTC)  # 2 Oct 03:00 Shanghai, National Day
FIRST_MORNING = datetime(2026, 10, 8, 1, 0, tzinfo=UTC)  # Thursday 8 Oct 09:00 Shanghai
pytestmark = pytest.mark.usefixtures("people")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def plan_all(engine: Engine, clock: Clock) -> None:
    planner = Planner(engine, load_rules(), Templates(), "http://console", clock=clock)
    records = project(engine, warning_breach_escalation())
    for record in records:
        record_rows(engine, planner.plan(event_from_transition(record), record))


def test_mail_that_is_not_urgent_waits_for_the_first_working_morning(engine: Engine) -> None:
    plan_all(engine, Clock(HOLIDAY_3AM))
    due = {(r.rule, r.channel.value, r.recipient): r.not_before for r in rows(engine)}
    assert due[("sla_warning", "email", "user:cw-county")] == FIRST_MORNING
    assert due[("assigned", "email", "user:cw-county")] == FIRST_MORNING
    assert due[("sla_warning", "inbox", "user:cw-county")] == HOLIDAY_3AM  # the inbox waits not
    assert due[("sla_breached", "email", "user:cw-county")] == HOLIDAY_3AM  # urgent
    assert due[("escalated", "email", "user:cw-city")] == HOLIDAY_3AM  # urgent
    # the enterprise's receipt goes at once (held over a holiday, it invites the request
    # again); a text to it would wait for the morning
    [receipt] = [when for (rule, _, _), when in due.items() if rule == "request_received"]
    assert receipt == HOLIDAY_3AM
    assert waits_for_working_hours(Channel.SMS, Audience.ENTERPRISE)


def test_a_digest_user_gets_one_mail_for_the_period(engine: Engine) -> None:
    with Session(engine) as session:
        pref = session.get(NotificationPreference, "cw-county")
        assert pref is not None
        pref.digest = True
        session.add(pref)
        session.commit()
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 Shanghai
    clock = Clock(start)
    plan_all(engine, clock)
    held = [r for r in rows(engine) if r.digest]
    assert {(r.rule, r.recipient) for r in held} == {
        ("assigned", "user:cw-county"),
        ("sla_warning", "user:cw-county"),
    }  # the breach is urgent: it is mailed at once
    with SmtpSink() as smtp:
        config = SmtpConfig(smtp.host, smtp.port, "tierflow <noreply@tierflow.localhost>")
        metrics = NotifierMetrics(CollectorRegistry())
        dispatcher = Dispatcher(
            engine, load_rules(), config, metrics, digest_seconds=3600, clock=clock
        )
        dispatcher.run_once()
        to_county = [m for m in smtp.snapshot() if m.rcpt_tos == ("cw-county@staff.example.org",)]
        assert [m.message["Subject"][:4] for m in to_county] == ["【超时】"]
        clock.now = start + timedelta(minutes=61)
        dispatcher.run_once()
        dispatcher.run_once()  # nothing more: the digest went once
    digests = [m for m in smtp.snapshot() if m.message["Subject"].startswith("【汇总】")]
    assert len(digests) == 1
    assert digests[0].message["Subject"] == "【汇总】2 条工单通知"
    assert "【待办】" in digests[0].body and "【预警】" in digests[0].body
    assert {r.status for r in rows(engine) if r.digest} == {DeliveryStatus.SENT}


def test_a_digest_to_an_address_that_is_not_one_is_dead_lettered_at_once(engine: Engine) -> None:
    """An e-mail stored before the edges checked it: no retry can make it one address."""
    with Session(engine) as session:
        pref = session.get(NotificationPreference, "cw-county")
        assert pref is not None
        pref.digest, pref.email = True, "cw-county@staff.example.org, boss@example.org"
        session.add(pref)
        session.commit()
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 Shanghai
    clock = Clock(start)
    plan_all(engine, clock)
    with SmtpSink() as smtp:
        config = SmtpConfig(smtp.host, smtp.port, "tierflow <noreply@tierflow.localhost>")
        metrics = NotifierMetrics(CollectorRegistry())
        dispatcher = Dispatcher(
            engine, load_rules(), config, metrics, digest_seconds=3600, clock=clock
        )
        clock.now = start + timedelta(minutes=61)
        dispatcher.run_once()
        mailed = smtp.snapshot()
    held = [r for r in rows(engine) if r.digest]
    assert len(held) == 2
    assert {(r.status, r.last_error) for r in held} == {
        (DeliveryStatus.DEAD, "the e-mail on file is not one address")
    }
    assert not [m for m in mailed if m.message["Subject"].startswith("【汇总】")]
    assert all("boss@example.org" not in m.rcpt_tos for m in mailed)
