"""Helpers of the notifier tests: people to notify, events on a real topic, the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from schemas.domain import Role, Tier
from schemas.lifecycle import EventType, TransitionRecord
from tests.utils.factories import RecordFactory, make_request
from tierflow.db.auth_models import ApiUser
from tierflow.db.engine import begin_write
from tierflow.db.notification_models import DeliveryStatus, Notification, NotificationPreference
from tierflow.db.projection import apply_transition
from tierflow.kafka_io import make_producer, publish_events
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.smtp_sink import SmtpSink
from tierflow_dev.devstack.stack import settings_env
from workers.notifier.process import serve

COUNTY = "zj-330106-sme"
CITY = "zj-330100-sme"


@dataclass(frozen=True)
class Person:
    id: str
    role: Role
    institution_id: str
    tier: Tier
    division_code: str

    @property
    def email(self) -> str:
        return f"{self.id}@staff.example.org"


# A caseworker and a lead at the county, a caseworker and a lead at the city above.
PEOPLE = (
    Person("cw-county", Role.CASEWORKER, COUNTY, Tier.COUNTY, "330106"),
    Person("lead-county", Role.SUPERVISOR, COUNTY, Tier.COUNTY, "330106"),
    Person("cw-city", Role.CASEWORKER, CITY, Tier.MUNICIPAL, "330100"),
    Person("lead-city", Role.SUPERVISOR, CITY, Tier.MUNICIPAL, "330100"),
)


def add_people(engine: Engine, people: Iterable[Person] = PEOPLE, *, email: bool = True) -> None:
    """Create the users and their preferences (mail on, with an address)."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        for p in people:
            session.add(
                ApiUser(
                    id=p.id,
                    role=p.role,
                    institution_id=p.institution_id,
                    tier=p.tier,
                    division_code=p.division_code,
                    created_at=now,
                )
            )
            session.add(
                NotificationPreference(
                    user_id=p.id, email=p.email if email else None, updated_at=now
                )
            )
        session.commit()


def warning_breach_escalation(request_id: str | None = None) -> list[TransitionRecord]:
    """A request's submission, assignment at the county, a warning, a breach and an escalation."""
    f = RecordFactory(make_request(request_id))
    return [
        f.submitted(),
        f.assigned(COUNTY),
        f.emit(EventType.SLA_WARNING, details={"clock": "response", "threshold": 0.5}),
        f.breached(),
        f.escalated(CITY, Tier.MUNICIPAL),
    ]


def project(engine: Engine, records: Iterable[TransitionRecord]) -> None:
    """Write the records to the read model, as the worker does before publishing them."""
    with begin_write(engine) as conn:
        for record in records:
            apply_transition(conn, record)


def publish(bootstrap: str, topic: str, records: list[TransitionRecord]) -> None:
    producer = make_producer(bootstrap)
    try:
        publish_events(producer, topic, records)
    finally:
        producer.close(timeout=5)


def notifier_settings(
    home: Path, db_url: str, bootstrap: str, topic: str, dlq: str, smtp: SmtpSink, **extra: Any
) -> Settings:
    """Settings of a notifier on the test's own topic, group, database and SMTP server."""
    return Settings(
        home=home,
        database_url=db_url,
        kafka_bootstrap_servers=bootstrap,
        notifier_events_topic=topic,
        notifier_dead_letter_topic=dlq,
        notifier_group=f"notifier-{topic}",
        notifier_metrics_port=free_port(),
        notifier_working_hours_only=False,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        **extra,
    )


@contextmanager
def notifier_thread(settings: Settings) -> Iterator[threading.Event]:
    """Run ``tierflow notifier`` in this process (a thread) until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(settings, stop), name="notifier", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the notifier did not stop within 60 s"


def start_notifier_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """Start ``tierflow notifier`` as its own process (so it can be killed with SIGKILL)."""
    env = {**os.environ, **settings_env(settings)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tierflow.cli", "notifier"], env=env, stdout=out, stderr=out
        )


def rows(engine: Engine, **where: Any) -> list[Notification]:
    with Session(engine) as session:
        query = select(Notification)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return list(session.exec(query.order_by(Notification.id)).all())  # type: ignore[arg-type]


def all_sent(engine: Engine, expected: int) -> list[Notification]:
    """The rows, once there are ``expected`` and none is pending any more (else empty)."""
    found = rows(engine)
    done = [r for r in found if r.status is not DeliveryStatus.PENDING]
    return found if len(found) == expected and len(done) == expected else []


def metrics_text(settings: Settings) -> str:
    url = f"http://127.0.0.1:{settings.notifier_metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local test server
        return str(resp.read().decode())


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


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == (f"{name}{{{want}}}" if want else name):
            return float(value)
    return 0.0
