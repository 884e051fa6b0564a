"""The notifier's /healthz and backlog metrics, on the real broker, database and receivers.

Degraded when events wait behind a committed offset that does not move (the database is held
by another writer), and when messages are due while the sender is stuck (a webhook endpoint
that does not answer); ok again once they flow. Stall times are set to a second.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from tests.integration.notifier.test_webhooks import SECRET_ENV, rules_file
from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import (
    add_people,
    all_sent,
    health,
    metric_value,
    metrics_text,
    notifier_settings,
    notifier_thread,
    project,
    publish,
    rows,
    warning_breach_escalation,
)
from tests.utils.webhook_receiver import WebhookReceiver
from tierflow.db.engine import make_engine
from tierflow.db.notification_models import DeliveryStatus
from tierflow.webhook_signature import new_secret
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.smtp_sink import SmtpSink

ROWS_PER_REQUEST = 15  # tests/integration/notifier/test_delivery.py EXPECTED


def _degraded(settings: Any) -> dict[str, Any] | None:
    body = health(settings)
    return body if body["status"] == "degraded" else None


async def test_events_held_up_by_the_database_make_the_notifier_degraded_until_they_flow(
    sqlite_url: str,
    kafka_broker: KafkaBroker,
    unique_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    engine = make_engine(sqlite_url)
    add_people(engine)
    topic, dlq = unique_topic("events"), unique_topic("dlq")
    records = warning_breach_escalation()
    project(engine, records)
    with SmtpSink() as smtp:
        settings = notifier_settings(
            tmp_path, sqlite_url, kafka_broker.bootstrap, topic, dlq, smtp,
            notifier_stall_seconds=1.0,
        )  # fmt: skip
        with notifier_thread(settings):
            await eventually(
                lambda: health(settings)["status"] == "ok", what="notifier ok", ignoring=(OSError,)
            )
            # another writer holds the database: no event can be recorded, none is skipped
            writer = sqlite3.connect(make_url(sqlite_url).database or "", timeout=30)
            try:
                writer.execute("BEGIN IMMEDIATE")
                publish(kafka_broker.bootstrap, topic, records)
                body = await eventually(
                    lambda: _degraded(settings), timeout=60, what="health degraded"
                )
                assert body["partitions"]["0"]["lag"] == len(records)
                assert body["partitions"]["0"]["stalled_seconds"] > 1.0
                text = metrics_text(settings)
                assert metric_value(text, "tierflow_notifier_consumer_lag", partition="0") == len(
                    records
                )
                assert (
                    metric_value(text, "tierflow_notifier_partition_stalled_seconds", partition="0")
                    > 1.0
                )
            finally:
                writer.rollback()
                writer.close()
            await eventually(
                lambda: all_sent(engine, ROWS_PER_REQUEST), timeout=60, what="all sent"
            )
            ok = await eventually(
                lambda: (b := health(settings))["status"] == "ok" and b, what="health ok again"
            )
            assert ok["partitions"]["0"]["lag"] == 0
            assert (
                metric_value(
                    metrics_text(settings), "tierflow_notifier_consumer_lag", partition="0"
                )
                == 0
            )
    engine.dispose()


async def test_messages_due_behind_a_hanging_endpoint_make_the_sender_degraded(
    sqlite_url: str,
    kafka_broker: KafkaBroker,
    unique_topic: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = new_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    receiver = WebhookReceiver(secret).start()
    receiver.hold()
    engine = make_engine(sqlite_url)
    topic, dlq = unique_topic("events"), unique_topic("dlq")
    records = warning_breach_escalation()
    project(engine, records)
    try:
        with SmtpSink() as smtp:
            settings = notifier_settings(
                tmp_path, sqlite_url, kafka_broker.bootstrap, topic, dlq, smtp,
                notifier_rules_file=rules_file(tmp_path, receiver.url),
                notifier_send_stall_seconds=1.0,
            )  # fmt: skip
            with notifier_thread(settings):
                publish(kafka_broker.bootstrap, topic, records)
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
    finally:
        receiver.stop()
        engine.dispose()
