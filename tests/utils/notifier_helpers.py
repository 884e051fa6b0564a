"""Helpers of the notifier tests: people to notify, their events, the read model's rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from schemas.domain import Role, Tier
from schemas.lifecycle import EventType, TransitionRecord
from tests.utils.factories import RecordFactory, make_request
from tierflow.auth_store import create_user
from tierflow.db.engine import begin_write
from tierflow.db.notification_models import DeliveryStatus, Notification
from tierflow.db.projection import apply_transition
from tierflow.kafka_io import make_producer, publish_events
from tierflow.notification_store import set_preference

COUNTY = "zj-330106-sme"
CITY = "zj-330100-sme"


@dataclass(frozen=True)
class Person:
    id: str
    role: Role
    institution_id: str  # its tier and division come from the directory

    @property
    def email(self) -> str:
        return f"{self.id}@staff.example.org"


# A caseworker and a lead at the county, a caseworker and a lead at the city above.
PEOPLE = (
    Person("cw-county", Role.CASEWORKER, COUNTY),
    Person("lead-county", Role.SUPERVISOR, COUNTY),
    Person("cw-city", Role.CASEWORKER, CITY),
    Person("lead-city", Role.SUPERVISOR, CITY),
)


def add_people(engine: Engine, people: Iterable[Person] = PEOPLE, *, email: bool = True) -> None:
    """Create the users and their preferences (mail on, with an address), as the product does."""
    for p in people:
        create_user(engine, p.id, p.role, p.institution_id)
        set_preference(engine, p.id, {"email": p.email if email else None}, datetime.now(UTC))


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


def project(engine: Engine, records: list[TransitionRecord]) -> list[TransitionRecord]:
    """Write the records to the read model, as the worker does before publishing them."""
    with begin_write(engine) as conn:
        for record in records:
            apply_transition(conn, record)
    return records


def publish(bootstrap: str, topic: str, records: list[TransitionRecord]) -> None:
    producer = make_producer(bootstrap)
    try:
        publish_events(producer, topic, records)
    finally:
        producer.close(timeout=5)


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
