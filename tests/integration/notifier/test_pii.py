"""PII canary: the enterprise's contact details reach its mailbox and nothing else the
notifier writes: not its log, not its metrics, not its rows, not its dead-letter topic.

The notifier runs as a process with its log in a file; its SMTP server refuses mail for a
while first, so the failure and retry paths write to the log too. The control is the mail
itself: it went to the marked address, so the search would find a leak.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.utils.eventually import eventually
from tests.utils.factories import RecordFactory, make_request
from tests.utils.ingress_helpers import read_partition
from tests.utils.notifier_helpers import (
    COUNTY,
    all_sent,
    metric_value,
    metrics_text,
    notifier_settings,
    project,
    publish,
    rows,
    start_notifier_process,
)
from tierflow.db.engine import make_engine
from tierflow.kafka_io import make_producer
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.smtp_sink import SmtpSink


async def test_no_contact_detail_in_the_notifiers_logs_metrics_rows_or_events(
    sqlite_url: str, kafka_broker: KafkaBroker, unique_topic: Callable[..., str], tmp_path: Path
) -> None:
    marker = f"PII-CANARY-{uuid.uuid4().hex[:16]}"
    request = make_request()
    request.enterprise.contact_name = f"{marker} name"
    request.enterprise.contact_phone = marker
    request.enterprise.contact_email = f"{marker.lower()}@example.com"
    f = RecordFactory(request)
    records = [f.submitted(), f.assigned(COUNTY), f.resolved()]  # mails: received, concluded
    engine = make_engine(sqlite_url)
    project(engine, records)
    topic, dlq = unique_topic("events"), unique_topic("dlq")
    producer = make_producer(kafka_broker.bootstrap)
    producer.send(topic, value=b"not an event").get(timeout=30)  # something to dead-letter
    producer.close(timeout=5)
    log = tmp_path / "notifier.log"
    with SmtpSink() as smtp:
        smtp.refuse = True
        settings = notifier_settings(
            tmp_path, sqlite_url, kafka_broker.bootstrap, topic, dlq, smtp,
            notifier_backoff_initial_seconds=0.2, notifier_backoff_max_seconds=0.5,
        )  # fmt: skip
        publish(kafka_broker.bootstrap, topic, records)
        process = start_notifier_process(settings, log)
        try:
            await eventually(
                lambda: (
                    metric_value(
                        metrics_text(settings),
                        "tierflow_notifications_failed_total",
                        channel="email",
                    )
                    >= 2
                ),  # fmt: skip
                timeout=60,
                ignoring=(OSError,),
                what="mail to the enterprise refused twice",
            )
            smtp.refuse = False
            await eventually(lambda: all_sent(engine, 2), timeout=60, what="both mails sent")
            metrics = metrics_text(settings)
            parked = await eventually(lambda: read_partition(kafka_broker.bootstrap, dlq))
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        mails = smtp.snapshot()
    stored = "".join(f"{r.recipient} {r.subject} {r.body} {r.last_error}" for r in rows(engine))
    engine.dispose()

    # the control: the contact was used, so a leak would carry the marker
    assert [m.rcpt_tos for m in mails] == [(request.enterprise.contact_email,)] * 2
    assert "WARNING" in log.read_text()  # the refusals were logged
    for where, text in {
        "log": log.read_text(errors="replace"),
        "metrics": metrics,
        "rows": stored,
        "dead letters": "".join(repr((r.key, r.value, r.headers)) for r in parked),
    }.items():
        assert marker not in text and marker.lower() not in text, f"contact detail in the {where}"
