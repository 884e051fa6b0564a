"""A request the caller's unit co-handles (协办) shows in its queue as late or on track by the
unit's part; the queue's status filter finds it the way the row shows it (it filtered by the
holder's clocks). The real projection and listing on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine

from activities.persistence import TransitionWriter
from api.service.requests import QueueFilter, list_requests
from schemas.domain import Role, SlaStatus
from schemas.lifecycle import EventType
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.auth_store import Principal

UNIT, HOLDER = "zj-330106-sme", "zj-330105-sme"


def _listed(engine: Engine, status: SlaStatus | None) -> list[tuple[str, SlaStatus]]:
    ctx: Any = SimpleNamespace(engine=engine, clock=lambda: T0 + timedelta(days=3))
    caseworker = Principal(user_id="cw-a", role=Role.CASEWORKER, institution_id=UNIT)
    page = list_requests(ctx, caseworker, QueueFilter(sla_status=status))
    return sorted((item.request_id, item.sla_status) for item in page.items)


def test_the_status_filter_finds_a_co_handled_request_by_its_part(db_engine: Engine) -> None:
    f = RecordFactory(make_request("req-part-late", division_code="330105"), T0)
    late_part = [f.submitted(), f.assigned(HOLDER)]
    part = {"co_handler": UNIT, "part_due_at": (T0 + timedelta(days=1)).isoformat()}
    late_part.append(f.emit(EventType.CO_HANDLER_ADDED, details=part))  # the holder on track
    g = RecordFactory(make_request("req-own", division_code="330106"), T0)
    own = [g.submitted(), g.assigned(UNIT)]
    writer = TransitionWriter(db_engine)
    assert writer.persist(late_part) == 3 and writer.persist(own) == 2

    assert _listed(db_engine, None) == [
        ("req-own", SlaStatus.ON_TRACK),
        ("req-part-late", SlaStatus.BREACHED),  # the unit's part is two days late
    ]
    assert _listed(db_engine, SlaStatus.BREACHED) == [("req-part-late", SlaStatus.BREACHED)]
    assert _listed(db_engine, SlaStatus.ON_TRACK) == [("req-own", SlaStatus.ON_TRACK)]
