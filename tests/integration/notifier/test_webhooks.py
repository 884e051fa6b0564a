"""Webhooks: every delivery verifies, no webhook-id twice, a receiver that was down gets all.

A real HTTP receiver (tests/utils/webhook_receiver.py) checks each Standard Webhooks
signature with the helper we give receivers. Backoff and breaker durations are set short so
the tests take seconds; the outage test keeps its receiver down for two whole minutes of the
notifier's time, on a clock that runs faster than the wall (backoff, breaker cooldowns and the
sender's pauses scale with it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from tests.utils.clock import FastClock
from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import project, rows, warning_breach_escalation
from tests.utils.notifier_rig import (
    NotifierRig,
    duplicate_events,
    metric_value,
    metrics_text,
    notifier_thread,
)
from tests.utils.webhook_receiver import WebhookReceiver
from tierflow.db.notification_models import DeliveryStatus
from tierflow_dev.devstack.smtp_sink import SmtpSink

OUTAGE_SECONDS = 120.0  # the receiver outage, in notifier time
SPEED = 20.0  # notifier seconds per wall second in the outage test: two minutes in six seconds
# a backoff and breaker that keep retrying through the outage and deliver soon after it
THROUGH_AN_OUTAGE = {
    "notifier_backoff_initial_seconds": 1.0,
    "notifier_backoff_max_seconds": 10.0,
    "notifier_breaker_failures": 3,
    "notifier_breaker_cooldown_seconds": 10.0,
}
FAST = {
    "notifier_backoff_initial_seconds": 0.2,
    "notifier_backoff_max_seconds": 1.0,
    "notifier_breaker_failures": 3,
    "notifier_breaker_cooldown_seconds": 0.5,
}


def three_requests(engine: Engine) -> list:
    return project(engine, [r for _ in range(3) for r in warning_breach_escalation()])


def delivered(receiver: WebhookReceiver, engine: Engine, expected: int) -> bool:
    done = [r for r in rows(engine) if r.status is DeliveryStatus.SENT]
    return len(receiver.ids()) >= expected and len(done) == expected


async def test_a_receiver_verifies_every_delivery_and_sees_no_id_twice(
    engine: Engine,
    smtp: SmtpSink,
    make_rig: Callable[..., NotifierRig],
    receiver: WebhookReceiver,
) -> None:
    receiver.start()
    rig = make_rig(partitions=3)
    records = three_requests(engine)
    settings = rig.webhook_settings(smtp, receiver.url, **FAST)
    with notifier_thread(settings):
        rig.publish(records)
        await eventually(lambda: delivered(receiver, engine, 9), timeout=60)
        rig.publish(records)  # redelivered: nothing new
        await eventually(lambda: duplicate_events(settings) >= 9)
    ids = receiver.ids()
    assert receiver.refused == []
    assert len(ids) == len(set(ids)) == 9
    payloads = [payload for _, payload in receiver.deliveries]
    assert {p["type"] for p in payloads} == {
        "org.tierflow.request.sla_warning.v1",
        "org.tierflow.request.sla_breached.v1",
        "org.tierflow.request.escalated.v1",
    }
    assert {p["data"]["id"] for p in payloads} == {
        r.event_id
        for r in records
        if r.event_type.value in ("sla_warning", "sla_breached", "escalated")
    }


async def test_a_receiver_down_for_two_minutes_gets_everything_afterwards(
    engine: Engine,
    smtp: SmtpSink,
    make_rig: Callable[..., NotifierRig],
    receiver: WebhookReceiver,  # not started: connections are refused
) -> None:
    rig = make_rig(partitions=3)
    records = three_requests(engine)
    settings = rig.webhook_settings(smtp, receiver.url, **THROUGH_AN_OUTAGE)
    clock = FastClock(SPEED)
    with notifier_thread(settings, clock):
        rig.publish(records)
        # the outage: sends fail, the breaker opens and lets a trial through now and then
        await eventually(
            lambda: len(rows(engine)) == 9 and any(r.attempts for r in rows(engine)),
            timeout=60,
            what="the deliveries failing while the receiver is down",
        )
        began = clock.now()
        # the outage itself: two minutes of notifier time from the first failure, until the
        # notifier has put every delivery off past them (retried, not given up)
        end = began + timedelta(seconds=OUTAGE_SECONDS)
        await eventually(
            lambda: clock.now() >= end and all(r.not_before >= end for r in rows(engine)),
            timeout=60,
            what="every delivery put off past two minutes of notifier time",
            detail=lambda: (clock.now() - began, [(r.status, r.not_before) for r in rows(engine)]),
        )
        assert {r.status for r in rows(engine)} == {DeliveryStatus.PENDING}  # none given up
        text = metrics_text(settings)
        assert metric_value(text, "tierflow_notifications_failed_total", channel="webhook") >= 9
        assert metric_value(text, "tierflow_notifications_retried_total", channel="webhook") >= 9
        sends = "tierflow_notifier_webhook_sends_total"  # the webhook that failed, by name
        assert metric_value(text, sends, webhook="crm", outcome="failed") >= 9
        assert f'{sends}{{outcome="sent",webhook="crm"}} 0.0' in text  # at 0, not absent
        receiver.start()
        await eventually(lambda: delivered(receiver, engine, 9), timeout=60)
        assert metric_value(metrics_text(settings), sends, webhook="crm", outcome="sent") == 9
    ids = receiver.ids()
    assert receiver.refused == []
    assert len(ids) == len(set(ids)) == 9


async def test_an_endpoint_that_stays_down_gets_a_dead_letter_record(
    engine: Engine,
    smtp: SmtpSink,
    rig: NotifierRig,
    receiver: WebhookReceiver,  # never started
) -> None:
    records = project(engine, warning_breach_escalation())
    settings = rig.webhook_settings(smtp, receiver.url, notifier_retry_seconds=1.0, **FAST)
    with notifier_thread(settings):
        rig.publish(records)
        dead = await eventually(
            lambda: (
                [r for r in rows(engine) if r.status is DeliveryStatus.DEAD] == rows(engine)
                and len(rows(engine)) == 3
                and rows(engine)
            ),
            timeout=60,
            what="three webhook deliveries dead-lettered",
        )
        text = metrics_text(settings)
    errors = [r.last_error or "" for r in dead]
    assert all(e.startswith("still failing after 1 s: ") for e in errors), errors
    assert any(e.endswith("crm: ConnectError") for e in errors), errors
    assert metric_value(text, "tierflow_notifications_dead_total", channel="webhook") == 3
