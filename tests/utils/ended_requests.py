"""Requests in the read model that ended one way or another, or not yet, for the privacy tests:
each is the records a workflow would emit, projected by the real ``TransitionWriter``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from activities.persistence import TransitionWriter
from schemas.domain import Role, State
from schemas.lifecycle import EventType, TransitionRecord
from schemas.request import Actor
from tests.utils.factories import T0, RecordFactory, caseworker, make_request
from tierflow.db.models import ContactErasure, ServiceRequest

UNIT = "zj-330106-sme"


@dataclass
class Made:
    """A request's records so far, and its factory to emit the next ones."""

    records: list[TransitionRecord]
    factory: RecordFactory

    @property
    def at(self) -> datetime:
        """When its last record happened (when it ended, for an ended one)."""
        return self.records[-1].occurred_at


def _factory(request_id: str, start: datetime, uscc: str | None, contact: bool) -> RecordFactory:
    request = make_request(request_id, uscc=uscc)
    if not contact:
        unreachable = request.enterprise.model_copy(
            update={"contact_name": None, "contact_phone": None, "contact_email": None}
        )
        request = request.model_copy(update={"enterprise": unreachable})
    return RecordFactory(request, start)


def closed(
    request_id: str, start: datetime = T0, *, uscc: str | None = None, contact: bool = True
) -> Made:
    """A request resolved and closed; it ends 30 minutes after ``start``."""
    f = _factory(request_id, start, uscc, contact)
    return Made([f.submitted(), f.assigned(UNIT), f.resolved(), f.closed()], f)


def withdrawn(request_id: str, start: datetime = T0, *, uscc: str | None = None) -> Made:
    """A request its enterprise withdrew 10 minutes after ``start``."""
    f = _factory(request_id, start, uscc, True)
    by = Actor(id=f.request.enterprise.uscc, role=Role.ENTERPRISE)
    submitted = f.submitted()
    withdrew = f.emit(EventType.WITHDRAWN, State.WITHDRAWN, actor=by, reason="已自行解决")
    return Made([submitted, withdrew], f)


def rejected(request_id: str, start: datetime = T0, *, uscc: str | None = None) -> Made:
    """A request its unit rejected 20 minutes after ``start``."""
    f = _factory(request_id, start, uscc, True)
    first = [f.submitted(), f.assigned(UNIT)]
    refused = f.emit(EventType.REJECTED, State.REJECTED, actor=caseworker(UNIT), reason="不属于")
    return Made([*first, refused], f)


def running(request_id: str, start: datetime = T0, *, uscc: str | None = None) -> Made:
    """A request its unit holds (assigned 10 minutes after ``start``)."""
    f = _factory(request_id, start, uscc, True)
    return Made([f.submitted(), f.assigned(UNIT)], f)


def resolved(request_id: str, start: datetime = T0, *, uscc: str | None = None) -> Made:
    """A request resolved 20 minutes after ``start``, not closed: not ended yet."""
    f = _factory(request_id, start, uscc, True)
    return Made([f.submitted(), f.assigned(UNIT), f.resolved()], f)


def persist(engine: Engine, *requests: Made) -> None:
    """Project the requests' records."""
    TransitionWriter(engine).persist([r for made in requests for r in made.records])


def contacts(engine: Engine, request_id: str) -> tuple[str | None, str | None, str | None]:
    """The request's contact person as the read model holds it (its three columns only: a
    schema downgraded below a later column still answers)."""
    table = SQLModel.metadata.tables[ServiceRequest.__tablename__]
    query = sqlalchemy.select(table.c.contact_name, table.c.contact_phone, table.c.contact_email)
    with engine.connect() as conn:
        row = conn.execute(query.where(table.c.request_id == request_id)).first()
    assert row is not None, request_id
    return row[0], row[1], row[2]


def erasures(engine: Engine) -> dict[str, ContactErasure]:
    """The erasure records, by request id."""
    with Session(engine) as session:
        return {e.request_id: e for e in session.exec(select(ContactErasure)).all()}
