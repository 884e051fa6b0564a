"""``kill -9`` mid-batch, restart: every person still hears once about each event.

``tierflow notifier`` runs as its own process on the real broker and a real SMTP server. It is
killed while the first batch of events is half recorded (so its offsets are not committed and
the whole batch comes again) and mails are going out, then started again.
"""

from __future__ import annotations

import signal
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import (
    add_people,
    all_sent,
    metric_value,
    metrics_text,
    notifier_settings,
    project,
    publish,
    rows,
    start_notifier_process,
    warning_breach_escalation,
)
from tierflow.db.engine import make_engine
from tierflow.db.notification_models import DeliveryStatus
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.smtp_sink import SmtpSink

REQUESTS = 12
ROWS_PER_REQUEST = 15  # tests/integration/notifier/test_delivery.py EXPECTED
MAILS_PER_REQUEST = 7


async def test_killed_mid_batch_and_restarted_each_person_hears_once(
    sqlite_url: str,
    kafka_broker: KafkaBroker,
    unique_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    engine = make_engine(sqlite_url)
    add_people(engine)
    topic, dlq = unique_topic("events", partitions=3), unique_topic("dlq")
    records = [r for _ in range(REQUESTS) for r in warning_breach_escalation()]
    project(engine, records)
    expected_rows = REQUESTS * ROWS_PER_REQUEST
    log = tmp_path / "notifier.log"
    with SmtpSink() as smtp:
        settings = notifier_settings(tmp_path, sqlite_url, kafka_broker.bootstrap, topic, dlq, smtp)
        publish(kafka_broker.bootstrap, topic, records)
        first = start_notifier_process(settings, log)
        try:
            await eventually(
                lambda: 0 < len(rows(engine)) < expected_rows,
                timeout=90,
                what="the first batch half recorded",
                interval=0.01,
                max_interval=0.02,
                detail=lambda: (len(rows(engine)), log.read_text()[-2000:]),
            )
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
        cut = len(rows(engine))
        second = start_notifier_process(settings, log)
        try:
            found = await eventually(
                lambda: all_sent(engine, expected_rows),
                timeout=120,
                what="every notification recorded and sent after the restart",
                detail=lambda: (len(rows(engine)), log.read_text()[-2000:]),
            )
            redelivered = metric_value(
                metrics_text(settings), "tierflow_notifier_events_total", outcome="duplicate"
            )
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
        mails = smtp.snapshot()
    engine.dispose()
    assert 0 < cut < expected_rows
    assert redelivered > 0  # the uncommitted batch came again and recorded nothing new
    assert {r.status for r in found} == {DeliveryStatus.SENT}
    # each mail is one message: a resend after a crash between the server's 250 and our
    # record of it would carry the same Message-ID, which mail clients show once
    ids_by_mail: dict[tuple[str, str], set[str]] = defaultdict(set)
    for mail in mails:
        ids_by_mail[(mail.rcpt_tos[0], mail.message["Subject"])].add(mail.message["Message-ID"])
    assert len(ids_by_mail) == REQUESTS * MAILS_PER_REQUEST
    assert all(len(ids) == 1 for ids in ids_by_mail.values())
    assert len({m.message["Message-ID"] for m in mails}) == REQUESTS * MAILS_PER_REQUEST
