"""Two notifiers (the cluster topology runs two) and a slow mail server: a batch is leased at
once and sent row by row, so behind slow sends the tail's leases run out before its turn and
the other notifier claims it. Each row is still mailed once: the first notifier renews a row's
lease just before sending it, and leaves a row another claim took. Real SMTP server, the real
dispatcher and database; the clock is injected: 3.5 virtual seconds a mail, and the
second notifier runs a round as soon as the tail's leases have run out."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import rows
from tests.utils.notifier_rig import webhook_rules_file
from tests.utils.webhook_receiver import WebhookReceiver
from tierflow.db.notification_models import Channel, DeliveryStatus, Notification
from tierflow_dev.devstack.smtp_sink import SmtpSink
from workers.notifier.channels.email import SmtpConfig
from workers.notifier.dispatcher import LEASE, Dispatcher
from workers.notifier.metrics import NotifierMetrics
from workers.notifier.rules import load_rules, parse_rules

pytestmark = pytest.mark.usefixtures("people")
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 Shanghai
BATCH = 50
MAIL = timedelta(seconds=3.5)  # a mail server taking 3.5 s a mail


def test_the_tail_of_a_slow_batch_is_mailed_once_when_another_notifier_takes_it(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        for i in range(BATCH):
            session.add(
                Notification(
                    event_id=f"req-lease:{i}", channel=Channel.EMAIL, recipient="user:cw-county",
                    user_id="cw-county", request_id="req-lease", event_type="assigned",
                    rule="assigned", subject=f"【待办】工单 {i}", body="请签收",
                    status=DeliveryStatus.PENDING, created_at=START, not_before=START,
                )
            )  # fmt: skip
        session.commit()
    took_over: list[int] = []

    def slow() -> datetime:
        """The first notifier's clock: 3.5 s later for each mail the server took; past the
        batch's lease the second notifier runs its round (once)."""
        now = START + MAIL * len(smtp.snapshot())
        if not took_over and now > START + LEASE:
            took_over.append(other.run_once())
        return now

    with SmtpSink() as smtp:
        config = SmtpConfig(smtp.host, smtp.port, "tierflow <noreply@tierflow.localhost>")

        def notifier(clock) -> Dispatcher:  # noqa: ANN001
            metrics = NotifierMetrics(CollectorRegistry())
            return Dispatcher(engine, load_rules(), config, metrics, clock=clock, batch=BATCH)

        first = notifier(slow)
        other = notifier(lambda: START + MAIL * len(smtp.snapshot()))
        assert first.run_once() == BATCH  # it claimed the whole batch
        mails = smtp.snapshot()
    assert took_over and 0 < took_over[0] < BATCH  # the second took the tail over
    sent = Counter(mail.message["Message-ID"] for mail in mails)
    assert len(sent) == BATCH and set(sent.values()) == {1}, sent.most_common(3)
    assert {row.status for row in rows(engine)} == {DeliveryStatus.SENT}


async def test_a_webhook_send_that_takes_its_whole_timeout_is_not_sent_again_meanwhile(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """An endpoint allowed 120 s a try hangs: the send's lease covers every quick try waiting
    its whole timeout, so another notifier, whose clock is past the 2-minute lease, does not
    claim the row and post it a second time; once the endpoint answers, it is sent once."""
    rules_file = webhook_rules_file(tmp_path, receiver.url)
    rules = parse_rules(
        rules_file.read_text().replace("timeout_seconds = 2", "timeout_seconds = 120")
    )
    with Session(engine) as session:
        session.add(
            Notification(
                event_id="req-slow-hook:1", channel=Channel.WEBHOOK, recipient="webhook:crm",
                request_id="req-slow-hook", event_type="escalated", rule="crm", locale="en",
                subject="org.tierflow.request.escalated.v1", body='{"type": "escalated"}',
                status=DeliveryStatus.PENDING, created_at=START, not_before=START,
            )
        )  # fmt: skip
        session.commit()
    receiver.start()
    receiver.hold()  # it hangs, inside the 120 s it is allowed

    def notifier(at: datetime) -> Dispatcher:
        metrics = NotifierMetrics(CollectorRegistry())
        config = SmtpConfig("127.0.0.1", 25, "tierflow <noreply@tierflow.localhost>")
        return Dispatcher(engine, rules, config, metrics, clock=lambda: at)

    first = notifier(START)
    sending = asyncio.create_task(asyncio.to_thread(first.run_once))
    await eventually(lambda: receiver.held == 1, what="the first send hanging")
    later = notifier(START + LEASE + timedelta(seconds=30))
    assert later.run_once() == 0  # the row is still leased to the first
    receiver.release()
    assert await sending == 1
    assert len(receiver.ids()) == 1
    assert [row.status for row in rows(engine)] == [DeliveryStatus.SENT]
