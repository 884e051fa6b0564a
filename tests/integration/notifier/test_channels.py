"""SMTP authentication and STARTTLS; SMS through an HTTP gateway (webhooks + a body template)."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine

from tests.integration.test_tls import Pki, make_pki
from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import project, rows, warning_breach_escalation
from tests.utils.notifier_rig import SECRET_ENV, NotifierRig, notifier_thread
from tests.utils.webhook_receiver import WebhookReceiver
from tierflow.db.notification_models import DeliveryStatus
from tierflow_dev.devstack.smtp_sink import SmtpSink


async def test_mail_goes_through_an_smtp_server_that_requires_auth(
    engine: Engine, people: None, rig: NotifierRig
) -> None:
    records = project(engine, warning_breach_escalation()[:2])
    with SmtpSink(credentials=("tierflow", "s3cret")) as smtp:
        settings = rig.settings(smtp, smtp_username="tierflow", smtp_password=SecretStr("s3cret"))
        with notifier_thread(settings):
            rig.publish(records)
            mails = await eventually(lambda: len(smtp.snapshot()) == 2 and smtp.snapshot())
    assert {m.authenticated_as for m in mails} == {"tierflow"}


async def test_the_enterprise_gets_an_sms_through_the_gateway(
    engine: Engine,
    smtp: SmtpSink,
    rig: NotifierRig,
    receiver: WebhookReceiver,
) -> None:
    gateway = receiver.start()
    rules = rig.home / "rules.toml"
    rules.write_text(
        'version = "sms-test"\n'
        "[sms]\n"
        f'url = "{gateway.url}"\n'
        f'secret_env = "{SECRET_ENV}"\n'
        # a provider of approved templates: the rule picks the template, the text fills it
        'body_template = \'{"to": {{ phone | tojson }}, "text": {{ text | tojson }}, '
        '"template": {{ {"request_received": "SMS_101"}[rule] | tojson }}, '
        '"ref": {{ request_id | tojson }}}\'\n'
        "[[rule]]\n"
        'name = "request_received"\n'
        'events = ["submitted"]\n'
        'template = "request_received"\n'
        'send = [{ audience = "enterprise", channels = ["sms"] }]\n'
    )
    records = project(engine, warning_breach_escalation()[:1])
    with notifier_thread(rig.settings(smtp, notifier_rules_file=rules)):
        rig.publish(records)
        await eventually(lambda: gateway.deliveries)
        await eventually(lambda: rows(engine)[0].status is DeliveryStatus.SENT)
    row = rows(engine)[0]
    assert gateway.refused == []
    [(msg_id, payload)] = gateway.deliveries
    assert msg_id == f"ntf_{row.id}"
    assert payload == {
        "to": "+8613800000000",  # the contact's 13800000000 in E.164
        "text": f"您的服务请求已收到（编号 {records[0].request_id}）",
        "template": "SMS_101",
        "ref": records[0].request_id,
    }
    assert (row.channel.value, row.recipient) == ("sms", f"enterprise:{records[0].request_id}")
    assert "13800000000" not in row.body + row.subject  # the number is read at send time only


async def test_a_message_that_fails_unexpectedly_is_dead_lettered_and_holds_back_no_other(
    engine: Engine,
    people: None,
    smtp: SmtpSink,
    rig: NotifierRig,
    receiver: WebhookReceiver,
) -> None:
    """A template that renders with the sample text the check at start uses, and fails on a
    real message at send: not a send error, so nothing else would catch it."""
    gateway = receiver.start()
    rules = rig.home / "rules.toml"
    rules.write_text(
        'version = "unexpected-test"\n'
        "[sms]\n"
        f'url = "{gateway.url}"\n'
        'body_template = \'{"to": {{ phone | tojson }}, '
        '"text": {{ {"测试": 1}[text] | tojson }}}\'\n'
        "[[rule]]\n"
        'name = "request_received"\n'
        'events = ["submitted"]\n'
        'template = "request_received"\n'
        'send = [{ audience = "enterprise", channels = ["sms"] }]\n'
        "[[rule]]\n"
        'name = "assigned"\n'
        'events = ["assigned"]\n'
        'template = "assigned"\n'
        'send = [{ audience = "caseworkers", channels = ["email"] }]\n'
    )
    records = project(engine, warning_breach_escalation()[:2])
    settings = rig.settings(
        smtp,
        notifier_rules_file=rules,
        notifier_retry_seconds=1.0,
        notifier_backoff_initial_seconds=0.1,
    )
    with notifier_thread(settings):
        rig.publish(records)
        sms, mail = await eventually(
            lambda: (
                (found := rows(engine))
                and len(found) == 2
                and all(r.status is not DeliveryStatus.PENDING for r in found)
                and found
            ),
            timeout=60,
            what="both messages settled",
            detail=lambda: [(r.channel, r.status, r.last_error) for r in rows(engine)],
        )
    assert (sms.channel.value, sms.status) == ("sms", DeliveryStatus.DEAD)
    assert sms.last_error is not None
    assert sms.last_error.startswith("still failing after 1 s: unexpected TypeError at ")
    assert "13800000000" not in sms.last_error
    assert (mail.channel.value, mail.status) == ("email", DeliveryStatus.SENT)
    assert gateway.deliveries == [] and len(smtp.snapshot()) == 1


def server_tls(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    return context


async def test_mail_goes_over_starttls_to_a_server_we_trust_and_not_to_another(
    engine: Engine, people: None, rig: NotifierRig, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    # two mails: received, assigned
    records = project(engine, warning_breach_escalation()[:2])
    sink = SmtpSink(tls_context=server_tls(pki), require_starttls=True)
    with sink:
        untrusting = rig.settings(sink, smtp_starttls=True, smtp_ca_file=str(pki.other_ca))
        with notifier_thread(untrusting):
            rig.publish(records)
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
    assert {m.rcpt_tos for m in mails} == {("wang@example.com",), ("cw-county@staff.example.org",)}
