"""Run ``tierflow notifier`` on a test's own topics and read what it reports (metrics, health)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.lifecycle import TransitionRecord
from tests.utils.notifier_helpers import publish
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.smtp_sink import SmtpSink
from tierflow_dev.devstack.stack import settings_env
from workers.notifier.clock import Clock
from workers.notifier.process import serve

SECRET_ENV = "TIERFLOW_TEST_WEBHOOK_SECRET"


@dataclass(frozen=True)
class NotifierRig:
    """A test's notifier inputs (database, broker, its own topics, folder), named once."""

    db_url: str
    bootstrap: str
    home: Path
    topic: str
    dlq: str

    def settings(self, smtp: SmtpSink, **extra: Any) -> Settings:
        """Settings of a notifier on this rig (its own consumer group), mailing through smtp."""
        return Settings(
            home=self.home,
            database_url=self.db_url,
            kafka_bootstrap_servers=self.bootstrap,
            notifier_events_topic=self.topic,
            notifier_dead_letter_topic=self.dlq,
            notifier_group=f"notifier-{self.topic}",
            notifier_metrics_port=free_port(),
            notifier_working_hours_only=False,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            **extra,
        )

    def webhook_settings(self, smtp: SmtpSink, url: str, **extra: Any) -> Settings:
        """Settings whose rules send the warning, breach and escalation to one webhook."""
        return self.settings(smtp, notifier_rules_file=webhook_rules_file(self.home, url), **extra)

    def publish(self, records: list[TransitionRecord]) -> None:
        """Publish the records' events on this rig's topic, as the worker's outbox does."""
        publish(self.bootstrap, self.topic, records)


def webhook_rules_file(folder: Path, url: str) -> Path:
    """Rules of one webhook, ``crm``, signed with $SECRET_ENV: the warning, breach, escalation."""
    path = folder / "rules.toml"
    path.write_text(
        'version = "webhook-test"\n'
        "[[webhook]]\n"
        'name = "crm"\n'
        f'url = "{url}"\n'
        f'secret_env = "{SECRET_ENV}"\n'
        'events = ["sla_warning", "sla_breached", "escalated"]\n'
        "timeout_seconds = 2\n"
    )
    return path


@contextmanager
def on_a_thread(run: Callable[[threading.Event], None], name: str) -> Iterator[threading.Event]:
    """Run ``run(stop)`` on a thread until the block ends; then set ``stop`` and join it."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), f"the {name} did not stop within 60 s"


@contextmanager
def notifier_thread(settings: Settings, clock: Clock | None = None) -> Iterator[threading.Event]:
    """Run ``tierflow notifier`` in this process (a thread) until the block ends; ``clock``:
    the notifier's time (``tests.utils.clock.FastClock``), real time if not given."""
    with on_a_thread(lambda stop: serve(settings, stop, clock), "notifier") as stop:
        yield stop


def start_notifier_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """Start ``tierflow notifier`` as its own process (so it can be killed with SIGKILL)."""
    env = {**os.environ, **settings_env(settings)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tierflow.cli", "notifier"], env=env, stdout=out, stderr=out
        )


@contextmanager
def notifier_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``tierflow notifier`` as its own process; on exit SIGTERM it and check it exits 0."""
    process = start_notifier_process(settings, log)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def metrics_text(settings: Settings) -> str:
    url = f"http://127.0.0.1:{settings.notifier_metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local test server
        return str(resp.read().decode())


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent), its labels in any order."""
    want = {f'{k}="{v}"' for k, v in labels.items()}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        sample, _, given = key.partition("{")
        if sample == name and set(filter(None, given.rstrip("}").split(","))) == want:
            return float(value)
    return 0.0


def duplicate_events(settings: Settings) -> float:
    """How many events the notifier read again and recorded nothing for (redeliveries)."""
    return metric_value(
        metrics_text(settings), "tierflow_notifier_events_total", outcome="duplicate"
    )


def health(settings: Settings) -> dict[str, Any]:
    """The notifier's /healthz body (answered 200 when ok, 503 otherwise)."""
    url = f"http://127.0.0.1:{settings.notifier_metrics_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local test server
            body: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        assert exc.code == 503, exc.code
        body = json.loads(exc.read())
    return body
