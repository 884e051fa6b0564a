"""``tierflow notifier``: the consumer and the dispatcher as one process; signals stop it.

It serves /metrics and /healthz (``TIERFLOW_NOTIFIER_METRICS_PORT``; ``health``), waits at
start for the database schema of its release (``tierflow db upgrade``) and for Kafka, and
refuses to start with a rules file that does not validate.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from sqlalchemy import Engine

from tierflow.db.engine import make_engine
from tierflow.db.schema_head import wait_for_schema_blocking
from tierflow.health import serve_metrics_and_health
from tierflow.kafka_connect import connect_kafka
from tierflow.metrics import process_registry
from tierflow.partition_progress import Health
from tierflow.settings import Settings, get_settings
from tierflow.tls import kafka_security_kwargs
from workers.notifier.breaker import Breakers
from workers.notifier.channels.email import SmtpConfig, sender_domain
from workers.notifier.clock import Clock
from workers.notifier.consumer import EventConsumer
from workers.notifier.dispatcher import Dispatcher, RetryPolicy
from workers.notifier.health import check
from workers.notifier.metrics import NotifierMetrics
from workers.notifier.planner import Planner
from workers.notifier.rules import LOCALES, Rules, load_rules
from workers.notifier.schedule import BusinessHours
from workers.notifier.templates import Templates
from workers.runtime import configure_logging

log = logging.getLogger("tierflow.notifier")


def smtp_config(settings: Settings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        domain=sender_domain(settings.smtp_from),
        starttls=settings.smtp_starttls,
        ca_file=settings.smtp_ca_file,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value(),
        timeout=settings.smtp_timeout_seconds,
    )


def load_checked_rules(settings: Settings, templates: Templates) -> Rules:
    """Load the rules and check every template they name exists in every locale."""
    rules = load_rules(settings.notifier_rules_file)
    for rule in rules.rule:
        templates.check(rule.template, LOCALES)
    if unsent := rules.texts_unsent():
        log.warning(
            "no [sms] gateway in the rules file: the text messages of %s are not sent "
            "(docs/notifications.md, SMS)",
            ", ".join(unsent),
        )
    return rules


def build_dispatcher(
    settings: Settings,
    engine: Engine,
    rules: Rules,
    metrics: NotifierMetrics,
    clock: Clock | None = None,
) -> Dispatcher:
    clock = clock or Clock()
    return Dispatcher(
        engine,
        rules,
        smtp_config(settings),
        metrics,
        retry=RetryPolicy(
            retry_seconds=settings.notifier_retry_seconds,
            initial=settings.notifier_backoff_initial_seconds,
            maximum=settings.notifier_backoff_max_seconds,
        ),
        breakers=Breakers(
            settings.notifier_breaker_failures,
            settings.notifier_breaker_cooldown_seconds,
            clock.monotonic,
        ),
        digest_seconds=settings.notifier_digest_minutes * 60,
        clock=clock.now,
        wait=clock.wait,
    )


def serve(
    settings: Settings | None = None,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): consume events on this thread, send on another.

    ``clock`` is the time of the planner and the sender (real time unless a test passes one).
    """
    settings = settings or get_settings()
    clock = clock or Clock()
    configure_logging()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():

        def on_signal(_sig: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    templates = Templates()
    rules = load_checked_rules(settings, templates)
    registry = process_registry()
    metrics = NotifierMetrics(registry, [webhook.name for webhook in rules.webhook])
    engine = make_engine(settings.resolved_database_url)
    metrics.backlog.engine = engine
    dispatcher = build_dispatcher(settings, engine, rules, metrics, clock)
    running: list[EventConsumer] = []
    health = serve_metrics_and_health(
        settings.notifier_metrics_port,
        registry,
        lambda: check(
            running[0].health() if running else Health("starting"),
            engine,
            dispatcher.idle_seconds,
            settings.notifier_send_stall_seconds,
        ),
        host=settings.metrics_host,
    )
    try:
        # not ready, consuming and sending nothing, while the schema predates this release
        if not wait_for_schema_blocking(engine, stop):
            return
        producer = connect_kafka(settings.kafka_bootstrap_servers, settings=settings)
        hours = BusinessHours(enabled=settings.notifier_working_hours_only)
        planner = Planner(
            engine,
            rules,
            templates,
            settings.notifier_console_url,
            hours,
            clock.now,
            portal_url=settings.notifier_portal_url,
        )
        session_ms = int(settings.notifier_session_timeout_seconds * 1000)
        consumer = EventConsumer(
            settings.kafka_bootstrap_servers,
            settings.notifier_events_topic,
            settings.notifier_group,
            settings.notifier_dead_letter_topic,
            planner,
            producer,
            metrics,
            consumer_config={
                **kafka_security_kwargs(settings),
                "session_timeout_ms": session_ms,
                "heartbeat_interval_ms": min(3000, session_ms // 3),  # 3 s, or 3 a session
            },
            stall_seconds=settings.notifier_stall_seconds,
        )
        running.append(consumer)
        sender = threading.Thread(target=dispatcher.run, args=(stop,), name="notifier-send")
        sender.start()
        log.info(
            "notifier rules %s: %d rules, %d webhooks",
            rules.version,
            len(rules.rule),
            len(rules.webhook),
        )
        try:
            consumer.run(stop)
        finally:
            stop.set()
            sender.join(timeout=30)
            producer.close(timeout=5)
    finally:
        health.close()
        engine.dispose()


def main() -> None:
    serve()
