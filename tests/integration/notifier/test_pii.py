"""PII canary: the enterprise's contact details reach its mailbox and nothing else the
notifier writes: not its log, not its metrics, not its rows, not its dead-letter topic.

The notifier runs as a process with its log in a file; its SMTP server refuses mail for a
while first, so the failure and retry paths write to the log too. The control is the mail
itself: it went to the marked address, so the search would find a leak.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import Engine

from tests.utils.eventually import eventually
from tests.utils.factories import RecordFactory, make_request
from tests.utils.ingress_helpers import read_partition
from tests.utils.notifier_helpers import COUNTY, all_sent, project, rows
from tests.utils.notifier_rig import NotifierRig, metric_value, metrics_text, notifier_process
from tierflow.kafka_io import make_producer
from tierflow_dev.devstack.smtp_sink import SmtpSink


async def test_no_contact_detail_in_the_notifiers_logs_metrics_rows_or_events(
    engine: Engine, smtp: SmtpSink, rig: NotifierRig, tmp_path: Path
) -> None:
    marker = f"PII-CANARY-{uuid.uuid4().hex[:16]}"
    request = make_request()
    request.enterprise.contact_name = f"{marker} name"
    request.enterprise.contact_phone = marker
    request.enterprise.contact_email = f"{marker.lower()}@example.com"
    f = RecordFactory(request)
    # mails: received, concluded
    records = project(engine, [f.submitted(), f.assigned(COUNTY), f.resolved()])
    producer = make_producer(rig.bootstrap)
    producer.send(rig.topic, value=b"not an event").get(timeout=30)  # something to dead-letter
    producer.close(timeout=5)
    log = tmp_path / "notifier.log"
    smtp.refuse = True
    settings = rig.settings(
        smtp, notifier_backoff_initial_seconds=0.2, notifier_backoff_max_seconds=0.5
    )
    rig.publish(records)
    with notifier_process(settings, log):
        await eventually(
            lambda: (
                metric_value(
                    metrics_text(settings), "tierflow_notifications_failed_total", channel="email"
                )
                >= 2
            ),
            timeout=60,
            ignoring=(OSError,),
            what="mail to the enterprise refused twice",
        )
        smtp.refuse = False
        await eventually(lambda: all_sent(engine, 2), timeout=60, what="both mails sent")
        metrics = metrics_text(settings)
        parked = await eventually(lambda: read_partition(rig.bootstrap, rig.dlq))
    mails = smtp.snapshot()
    stored = "".join(f"{r.recipient} {r.subject} {r.body} {r.last_error}" for r in rows(engine))

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
