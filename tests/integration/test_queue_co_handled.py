"""A request the caller's unit co-handles (协办) shows in its queue as late or on track by the
unit's part; the queue's status filter finds it the way the row shows it (it filtered by the
holder's clocks). The real projection and listing on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, select

from activities.persistence import TransitionWriter
from api.lookup import co_handles
from api.service.requests import QueueFilter, list_requests
from schemas.domain import Role, SlaStatus, State, Tier
from schemas.lifecycle import Awaiting, EventType
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.auth_store import Principal
from tierflow.db.models import RequestPart

MIGRATION = importlib.import_module(
    "tierflow.db.migrations.versions.0025_part_replies_owed"
)  # its name starts with a digit

UNIT, HOLDER = "zj-330106-sme", "zj-330105-sme"


CO_HANDLER = Principal(user_id="cw-a", role=Role.CASEWORKER, institution_id=UNIT)


def _ctx(engine: Engine) -> Any:
    return SimpleNamespace(engine=engine, clock=lambda: T0 + timedelta(days=3))


def _listed(engine: Engine, status: SlaStatus | None) -> list[tuple[str, SlaStatus]]:
    page = list_requests(_ctx(engine), CO_HANDLER, QueueFilter(sla_status=status))
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


def test_a_unit_keeps_a_request_whose_supervision_waits_for_its_reply(db_engine: Engine) -> None:
    """督办 of a late part is its co-handler's to answer: after its part is concluded the unit
    still lists the request until it has replied (or was reprimanded for not replying), then
    no longer (it no longer sees the enterprise's details)."""
    f = RecordFactory(make_request("req-part-owed", division_code="330105"), T0)
    part = {"co_handler": UNIT, "part_due_at": (T0 + timedelta(days=1)).isoformat()}
    chase = {"clock": f"part:{UNIT}", "supervised_institution": UNIT}
    writer = TransitionWriter(db_engine)
    writer.persist([f.submitted(), f.assigned(HOLDER)])
    steps = [
        (f.emit(EventType.CO_HANDLER_ADDED, details=part), ["req-part-owed"]),
        (f.emit(EventType.SUPERVISION_OPENED, details=chase), ["req-part-owed"]),
        (f.emit(EventType.PART_CONCLUDED, details=part), ["req-part-owed"]),  # a reply owed
        (f.emit(EventType.SUPERVISION_REPLIED, details={"clock": chase["clock"]}), []),
    ]
    for record, listed in steps:
        writer.persist([record])
        assert [request_id for request_id, _ in _listed(db_engine, None)] == listed, record

    g = RecordFactory(make_request("req-part-reprimanded", division_code="330105"), T0)
    owed = [g.submitted(), g.assigned(HOLDER), g.emit(EventType.CO_HANDLER_ADDED, details=part)]
    owed += [g.emit(EventType.SUPERVISION_OPENED, details=chase)]
    owed += [g.emit(EventType.PART_WAIVED, details=part)]
    writer.persist(owed)
    assert [request_id for request_id, _ in _listed(db_engine, None)] == ["req-part-reprimanded"]
    writer.persist([g.emit(EventType.REPRIMANDED, details=chase)])
    assert _listed(db_engine, None) == []
    # its reply after the reprimand is recorded, and owes nothing more: a new supervision of
    # the unit's part still brings the request back to it
    late = {"clock": chase["clock"], "late": True}
    writer.persist([g.emit(EventType.SUPERVISION_REPLIED, details=late)])
    assert _listed(db_engine, None) == []
    writer.persist([g.emit(EventType.SUPERVISION_OPENED, details=chase)])
    assert [request_id for request_id, _ in _listed(db_engine, None)] == ["req-part-reprimanded"]


def test_parts_recorded_before_count_the_replies_they_owe(db_engine: Engine) -> None:
    """Migration 0025 counts, from the audit trail, the supervisions of each part that no reply
    or reprimand answered."""
    part = {"co_handler": UNIT, "part_due_at": (T0 + timedelta(days=1)).isoformat()}
    chase = {"clock": f"part:{UNIT}"}
    made = {}
    for name, answers in (("owed", []), ("replied", [EventType.SUPERVISION_REPLIED])):
        f = RecordFactory(make_request(f"req-owed-{name}", division_code="330105"), T0)
        rec = [f.submitted(), f.assigned(HOLDER), f.emit(EventType.CO_HANDLER_ADDED, details=part)]
        rec += [f.emit(EventType.SUPERVISION_OPENED, details=chase)]
        rec += [f.emit(kind, details=chase) for kind in answers]
        made[name] = rec
    TransitionWriter(db_engine).persist([r for rec in made.values() for r in rec])
    with db_engine.begin() as conn:  # as the migration found them
        conn.execute(update(RequestPart).values(replies_owed=0))
        MIGRATION.backfill(conn)
    with Session(db_engine) as session:
        owed = session.exec(select(RequestPart.request_id, RequestPart.replies_owed)).all()
    assert sorted(owed) == [("req-owed-owed", 1), ("req-owed-replied", 0)]


def test_a_part_ends_with_a_request_that_ended(db_engine: Engine) -> None:
    """A request withdrawn (or rejected, or closed for no reply) while a unit's part was open:
    the part ends with it, and the co-handling unit no longer lists or reaches the request,
    closed ones included (it would see the enterprise's contact)."""
    part = {"co_handler": UNIT, "part_due_at": (T0 + timedelta(days=1)).isoformat()}
    writer = TransitionWriter(db_engine)
    for ended, state in (
        (EventType.WITHDRAWN, State.WITHDRAWN),
        (EventType.REJECTED, State.REJECTED),
        (EventType.CLOSED, State.CLOSED),
    ):
        f = RecordFactory(make_request(f"req-part-{ended.value}", division_code="330105"), T0)
        writer.persist([f.submitted(), f.assigned(HOLDER)])
        writer.persist([f.emit(EventType.CO_HANDLER_ADDED, details=part)])
        assert co_handles(_ctx(db_engine), CO_HANDLER, f.request.request_id)
        writer.persist([f.emit(ended, state, details={"ended_parts": [UNIT]})])
        assert not co_handles(_ctx(db_engine), CO_HANDLER, f.request.request_id), ended
    everything = list_requests(_ctx(db_engine), CO_HANDLER, QueueFilter(include_closed=True))
    assert everything.items == []
    with Session(db_engine) as session:
        closed = session.exec(select(RequestPart.request_id, RequestPart.closed_by)).all()
    assert sorted(closed) == [
        ("req-part-closed", "closed"),
        ("req-part-rejected", "rejected"),
        ("req-part-withdrawn", "withdrawn"),
    ]


def test_the_supervision_reply_worklist_holds_the_replies_each_unit_owes(
    db_engine: Engine,
) -> None:
    """督办待回复: the co-handler's supervision for its late part is in its own caseworkers'
    worklist, not the holding unit's; the holder's own supervision is the holder's; a
    supervisor above sees both."""
    part = {"co_handler": UNIT, "part_due_at": (T0 + timedelta(days=1)).isoformat()}
    chase = {"clock": f"part:{UNIT}", "supervised_institution": UNIT}
    f = RecordFactory(make_request("req-part-supervised", division_code="330105"), T0)
    writer = TransitionWriter(db_engine)
    writer.persist([f.submitted(), f.assigned(HOLDER)])
    writer.persist([f.emit(EventType.CO_HANDLER_ADDED, details=part)])
    writer.persist([f.emit(EventType.SUPERVISION_OPENED, details=chase)])  # no holder's flag
    g = RecordFactory(make_request("req-holder-supervised", division_code="330105"), T0)
    writer.persist([g.submitted(), g.assigned(HOLDER)])
    g_owes = g.emit(EventType.SUPERVISION_OPENED, details={"clock": "resolution"})
    g_owes.summary.awaiting = [Awaiting.SUPERVISION_REPLY]
    writer.persist([g_owes])

    def worklist(who: Principal) -> list[str]:
        where = QueueFilter(awaiting=(Awaiting.SUPERVISION_REPLY,))
        return sorted(i.request_id for i in list_requests(_ctx(db_engine), who, where).items)

    holder = Principal(user_id="cw-h", role=Role.CASEWORKER, institution_id=HOLDER)
    city = Principal(
        user_id="sup-city",
        role=Role.SUPERVISOR,
        institution_id="zj-330100-sme",
        tier=Tier.MUNICIPAL,
        division_code="330100",
    )
    assert worklist(CO_HANDLER) == ["req-part-supervised"]
    assert worklist(holder) == ["req-holder-supervised"]
    assert worklist(city) == ["req-holder-supervised", "req-part-supervised"]
