"""SMTP authentication, and SMS through an HTTP gateway (the webhook mechanism + a template)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import (
    add_people,
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


async def test_mail_goes_through_an_smtp_server_that_requires_auth(
    sqlite_url: str, kafka_broker: KafkaBroker, unique_topic: Callable[..., str], tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    add_people(engine)
    topic, dlq = unique_topic("events"), unique_topic("dlq")
    records = warning_breach_escalation()[:2]
    project(engine, records)
    with SmtpSink(credentials=("tierflow", "s3cret")) as smtp:
        settings = notifier_settings(
            tmp_path, sqlite_url, kafka_broker.bootstrap, topic, dlq, smtp,
            smtp_username="tierflow", smtp_password=SecretStr("s3cret"),
        )  # fmt: skip
        with notifier_thread(settings):
            publish(kafka_broker.bootstrap, topic, records)
            mails = await eventually(lambda: len(smtp.snapshot()) == 2 and smtp.snapshot())
    engine.dispose()
    assert {m.authenticated_as for m in mails} == {"tierflow"}


async def test_the_enterprise_gets_an_sms_through_the_gateway(
    sqlite_url: str,
    kafka_broker: KafkaBroker,
    unique_topic: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = new_secret()
    monkeypatch.setenv("TIERFLOW_TEST_SMS_SECRET", secret)
    gateway = WebhookReceiver(secret).start()
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'version = "sms-test"\n'
        "[sms]\n"
        f'url = "{gateway.url}"\n'
        'secret_env = "TIERFLOW_TEST_SMS_SECRET"\n'
        'body_template = \'{"to": {{ phone | tojson }}, "text": {{ text | tojson }}}\'\n'
        "[[rule]]\n"
        'name = "request_received"\n'
        'events = ["submitted"]\n'
        'template = "request_received"\n'
        'send = [{ audience = "enterprise", channels = ["sms"] }]\n'
    )
    engine = make_engine(sqlite_url)
    topic, dlq = unique_topic("events"), unique_topic("dlq")
    records = warning_breach_escalation()[:1]
    project(engine, records)
    try:
        with SmtpSink() as smtp:
            settings = notifier_settings(
                tmp_path, sqlite_url, kafka_broker.bootstrap, topic, dlq, smtp,
                notifier_rules_file=rules,
            )  # fmt: skip
            with notifier_thread(settings):
                publish(kafka_broker.bootstrap, topic, records)
                await eventually(lambda: gateway.deliveries)
                await eventually(lambda: rows(engine)[0].status is DeliveryStatus.SENT)
    finally:
        gateway.stop()
    row = rows(engine)[0]
    engine.dispose()
    assert gateway.refused == []
    [(msg_id, payload)] = gateway.deliveries
    assert msg_id == f"ntf_{row.id}"
    assert payload == {
        "to": "13800000000",
        "text": f"您的服务请求已受理（编号 {records[0].request_id}）",
    }
    assert (row.channel.value, row.recipient) == ("sms", f"enterprise:{records[0].request_id}")
    assert "13800000000" not in row.body + row.subject  # the number is read at send time only
