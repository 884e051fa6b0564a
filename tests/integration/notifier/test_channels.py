"""SMTP authentication and STARTTLS; SMS through an HTTP gateway (webhooks + a body template)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.integration.test_tls import Pki, make_pki
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


def server_tls(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    return context


async def test_mail_goes_over_starttls_to_a_server_we_trust_and_not_to_another(
    sqlite_url: str, kafka_broker: KafkaBroker, unique_topic: Callable[..., str], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    engine = make_engine(sqlite_url)
    add_people(engine)
    records = warning_breach_escalation()[:2]  # two mails: received, assigned
    project(engine, records)
    topic, dlq = unique_topic("events"), unique_topic("dlq")
    sink = SmtpSink(tls_context=server_tls(pki), require_starttls=True)
    with sink:
        untrusting = notifier_settings(
            tmp_path, sqlite_url, kafka_broker.bootstrap, topic, dlq, sink,
            smtp_starttls=True, smtp_ca_file=str(pki.other_ca),
        )  # fmt: skip
        with notifier_thread(untrusting):
            publish(kafka_broker.bootstrap, topic, records)
            refused = await eventually(
                lambda: [r for r in rows(engine) if r.last_error and r.attempts >= 1],
                timeout=60,
                what="a send refused for the server's certificate",
            )
        assert "SSLCertVerificationError" in (refused[0].last_error or "")
        assert sink.snapshot() == []
        trusting = untrusting.model_copy(update={"smtp_ca_file": str(pki.ca)})
        with notifier_thread(trusting):
            mails = await eventually(lambda: len(sink.snapshot()) == 2 and sink.snapshot())
    engine.dispose()
    assert {m.rcpt_tos for m in mails} == {("wang@example.com",), ("cw-county@staff.example.org",)}
