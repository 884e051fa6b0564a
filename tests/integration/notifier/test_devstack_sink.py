"""``make up``'s notifier: the local stack starts it with an SMTP sink in the same process,
and the newcomer reads the mails in ``logs/mail.log`` and a line each in the notifier's log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import project, publish, warning_breach_escalation
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.settings import Settings
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.stack import LocalStack


async def test_the_local_stacks_notifier_mails_into_its_sink(
    kafka_broker: KafkaBroker, unique_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = unique_topic("events")
    settings = Settings(
        home=tmp_path,
        kafka_bootstrap_servers=kafka_broker.bootstrap,
        notifier_events_topic=topic,
        notifier_dead_letter_topic=unique_topic("dlq"),
        notifier_metrics_port=free_port(),
        smtp_port=free_port(),
    )
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    records = warning_breach_escalation()[:1]  # submitted: the enterprise is told
    project(engine, records)
    engine.dispose()
    stack = LocalStack(settings)
    notifier = stack.apps["notifier"]
    try:
        assert stack.start_app(notifier, timeout=60).startswith("notifier started (pid ")
        publish(kafka_broker.bootstrap, topic, records)
        mail_log = tmp_path / "logs" / "mail.log"
        text = await eventually(
            lambda: mail_log.exists() and mail_log.read_text(),
            timeout=60,
            what="a mail in the sink",
        )
    finally:
        assert notifier.process.stop(20)
    assert "===== mail 1 (envelope to wang@example.com)" in text
    assert f"您的服务请求已收到（编号 {records[0].request_id}）" in text
    own_log = notifier.process.log_path.read_text()
    assert "dev SMTP sink: mail 1 received: 您的服务请求已收到" in own_log
    assert "wang@example.com" not in own_log
