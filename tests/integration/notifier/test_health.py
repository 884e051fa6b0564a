"""The notifier's /healthz and backlog metrics, on the real broker, database and receivers.

Degraded when events wait behind a committed offset that does not move (the database is held
by another writer), and when messages are due while the sender is stuck (a webhook endpoint
that does not answer); ok again once they flow. Stall times are set to a second.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, make_url

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import all_sent, project, rows, warning_breach_escalation
from tests.utils.notifier_rig import (
    NotifierRig,
    health,
    metric_value,
    metrics_text,
    notifier_thread,
)
from tests.utils.webhook_receiver import WebhookReceiver
from tierflow.db.notification_models import DeliveryStatus
from tierflow_dev.devstack.smtp_sink import SmtpSink

ROWS_PER_REQUEST = 16  # tests/integration/notifier/test_delivery.py EXPECTED


def _degraded(settings: Any) -> dict[str, Any] | None:
    body = health(settings)
    return body if body["status"] == "degraded" else None


async def test_events_held_up_by_the_database_make_the_notifier_degraded_until_they_flow(
    engine: Engine, people: None, smtp: SmtpSink, rig: NotifierRig
) -> None:
    records = project(engine, warning_breach_escalation())
    settings = rig.settings(smtp, notifier_stall_seconds=1.0)
    with notifier_thread(settings):
        await eventually(
            lambda: health(settings)["status"] == "ok", what="notifier ok", ignoring=(OSError,)
        )
        # another writer holds the database: no event can be recorded, none is skipped
        writer = sqlite3.connect(make_url(rig.db_url).database or "", timeout=30)
        try:
            writer.execute("BEGIN IMMEDIATE")
            rig.publish(records[:1])
            await eventually(lambda: _degraded(settings), timeout=60, what="health degraded")
            # what arrives while the notifier waits is counted too (it polls nothing then)
            rig.publish(records[1:])
            body = await eventually(
                lambda: (
                    (b := _degraded(settings))
                    and b["partitions"][f"{rig.topic}-0"]["lag"] == 5
                    and b
                ),
                timeout=30,
                what="every event counted as waiting",
            )
            assert len(records) == 5
            assert body["partitions"][f"{rig.topic}-0"]["stalled_seconds"] > 1.0
            text = metrics_text(settings)
            assert metric_value(
                text, "tierflow_notifier_consumer_lag", topic=rig.topic, partition="0"
            ) == len(records)
            assert (
                metric_value(
                    text,
                    "tierflow_notifier_partition_stalled_seconds",
                    topic=rig.topic,
                    partition="0",
                )
                > 1.0
            )
        finally:
            writer.rollback()
            writer.close()
        await eventually(lambda: all_sent(engine, ROWS_PER_REQUEST), timeout=60, what="all sent")
        ok = await eventually(
            lambda: (b := health(settings))["status"] == "ok" and b, what="health ok again"
        )
        assert ok["partitions"][f"{rig.topic}-0"]["lag"] == 0
        assert (
            metric_value(
                metrics_text(settings),
                "tierflow_notifier_consumer_lag",
                topic=rig.topic,
                partition="0",
            )
            == 0
        )


async def test_messages_due_behind_a_hanging_endpoint_make_the_sender_degraded(
    engine: Engine,
    smtp: SmtpSink,
    rig: NotifierRig,
    receiver: WebhookReceiver,
) -> None:
    receiver.start().hold()
    records = project(engine, warning_breach_escalation())
    settings = rig.webhook_settings(smtp, receiver.url, notifier_send_stall_seconds=1.0)
    with notifier_thread(settings):
        rig.publish(records)
        body = await eventually(
            lambda: _degraded(settings),
            timeout=60,
            what="sender degraded",
            ignoring=(OSError,),
        )
        assert receiver.held == 1
        assert body["sender"]["due"] == 3  # warning, breach, escalation
        assert body["sender"]["idle_seconds"] > 1.0
        assert metric_value(metrics_text(settings), "tierflow_notifier_due_messages") == 3
        receiver.release()
        await eventually(
            lambda: [r.status for r in rows(engine)] == [DeliveryStatus.SENT] * 3,
            timeout=60,
            what="every webhook delivered",
        )
        ok = await eventually(
            lambda: (b := health(settings))["status"] == "ok" and b, what="health ok"
        )
        assert ok["sender"]["due"] == 0
