"""A lifecycle through the real worker: events on Kafka, rows in the DB, metrics counted once."""

from __future__ import annotations

import asyncio

from sqlmodel import Session, col, func, select

from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind, EventType
from schemas.request import Actor
from tests.fixtures.stack import Stack
from tests.utils.eventually import eventually
from tests.utils.factories import make_request
from tests.utils.stack_helpers import act, read_events, sample, start_request
from tierflow.db import repository
from tierflow.db.models import Transition
from workflows.service_request import ServiceRequestWorkflow


def county_submissions(stack: Stack) -> tuple[float, int]:
    """The worker's count of county submissions, and the audit rows of them."""
    counted = sample(
        stack.registry, "tierflow_transitions_total", event_type="submitted", tier="county"
    )
    query = select(func.count()).where(
        col(Transition.event_type) == EventType.SUBMITTED.value,
        col(Transition.to_tier) == Tier.COUNTY.value,
    )
    with Session(stack.engine) as session:
        return counted, session.exec(query).one()


async def test_lifecycle_persists_publishes_and_counts(stack) -> None:
    req = make_request()
    counted_before, recorded_before = county_submissions(stack)
    handle = await start_request(stack, req)
    view = await handle.query(ServiceRequestWorkflow.view)
    institution = view.summary.institution_id
    cw = Actor(id="cw-1", role=Role.CASEWORKER, institution_id=institution)
    await act(handle, ActionKind.ACKNOWLEDGE, cw)
    await act(handle, ActionKind.START, cw)
    await act(handle, ActionKind.COMMENT, cw, text="Visited the factory")
    resolved = await act(handle, ActionKind.RESOLVE, cw, text="Matched with a bank loan")
    assert resolved.state is State.RESOLVED

    # the read model has the row and one audit row per event id, in order
    with Session(stack.engine) as session:
        row = repository.get_request(session, req.request_id)
        assert row is not None and row.state is State.RESOLVED
        audit = repository.transitions(session, req.request_id)
        # submitted, assigned, signed_for (acknowledging signs for it), acknowledged, started,
        # commented, resolved
        assert [t.event_id for t in audit] == [f"{req.request_id}:{n}" for n in range(1, 8)]
        assert [c.body for c in repository.comments(session, req.request_id)] == [
            "Visited the factory"
        ]

    # Kafka has the same events as CloudEvents, in order, keyed by request id
    # in a thread: the worker shares this event loop and must keep running meanwhile
    events = await asyncio.to_thread(read_events, stack.bootstrap, req.request_id, expect=7)
    assert [e["id"] for e in events] == [f"{req.request_id}:{n}" for n in range(1, 8)], [
        e["type"] for e in events
    ]
    assert events[0]["type"] == "org.tierflow.request.submitted.v1"
    assert "contact_phone" not in str(events[0]["data"])  # PII stays off the bus

    # counters moved exactly once per event: as often as submissions were recorded meanwhile
    # (ours, and any that requests of earlier tests on this worker recorded late)
    def counted_once() -> bool:
        counted, recorded = county_submissions(stack)
        new = recorded - recorded_before
        return new >= 1 and counted - counted_before == new

    await eventually(counted_once, 30, "one count per recorded submission")
    # the open-requests gauge is read from the read model at scrape time: a resolved request
    # is not open, so it has no series, while the request's row is resolved (checked above)
    families = {family.name: family for family in stack.registry.collect()}
    open_series = {
        (s.labels["tier"], s.labels["state"]) for s in families["tierflow_open_requests"].samples
    }
    assert ("county", "resolved") not in open_series
