"""Metrics count each lifecycle event once: activity retries and workflow replays add nothing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.persistence import TransitionWriter
from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind
from schemas.request import Actor
from tests.utils.factories import ENTERPRISE, RecordFactory, make_request
from tests.utils.stack_helpers import act, sample, start_request
from tierflow.db import repository
from tierflow.metrics import WorkerMetrics
from workflows.request_types import REQUEST_WORKFLOWS
from workflows.service_request import ServiceRequestWorkflow

COUNTERS = (
    "tierflow_transitions_total",
    "tierflow_requests_total",
    "tierflow_escalations_total",
    "tierflow_sla_warnings_total",
    "tierflow_sla_breaches_total",
    "tierflow_supervisor_alerts_total",
    "tierflow_time_to_first_response_business_seconds_count",
    "tierflow_events_published_total",
)


def counter_values(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    """Return every counter-like sample (gauges read from the DB are left out)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name in COUNTERS
    }


def test_retried_writes_count_once(stack) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    writer = TransitionWriter(stack.engine, metrics)
    steps = RecordFactory(make_request())
    records = [
        steps.submitted(),
        steps.assigned("zj-330106-sme"),
        steps.breached("response"),
        steps.escalated("zj-330100-sme", Tier.MUNICIPAL),
    ]

    first = writer.persist(records)
    after_first = counter_values(registry)
    retried = writer.persist(records)  # e.g. a lost activity completion
    one_by_one = [writer.persist([r]) for r in records]

    assert first == 4
    assert retried == 0 and one_by_one == [0, 0, 0, 0]
    assert counter_values(registry) == after_first
    assert (
        sample(registry, "tierflow_transitions_total", event_type="submitted", tier="county") == 1
    )
    assert sample(registry, "tierflow_sla_breaches_total", clock="response", tier="county") == 1
    assert (
        sample(
            registry,
            "tierflow_escalations_total",
            from_tier="county",
            to_tier="municipal",
            reason="breach",
            code="sla_breach",
        )
        == 1
    )
    assert (
        sample(
            registry,
            "tierflow_requests_total",
            outcome="submitted",
            category="financing",
            priority="normal",
            tier="county",
        )
        == 1
    )
    with Session(stack.engine) as session:
        audit = repository.transitions(session, steps.request.request_id)
    assert [t.event_id for t in audit] == [r.event_id for r in records]


async def test_replaying_a_finished_workflow_counts_nothing(stack) -> None:
    req = make_request()
    handle = await start_request(stack, req)
    view = await handle.query(ServiceRequestWorkflow.view)
    cw = Actor(id="cw-1", role=Role.CASEWORKER, institution_id=view.summary.institution_id)
    await act(handle, ActionKind.ACKNOWLEDGE, cw)
    await act(handle, ActionKind.ESCALATE, cw, text="needs the city's bank network")
    withdrawn = await act(handle, ActionKind.WITHDRAW, ENTERPRISE, text="solved")
    assert withdrawn.state is State.WITHDRAWN
    summary = await handle.result()
    assert summary.state is State.WITHDRAWN

    before = counter_values(stack.registry)
    with Session(stack.engine) as session:
        rows_before = len(repository.transitions(session, req.request_id))
    assert (
        sample(
            stack.registry,
            "tierflow_escalations_total",
            from_tier="county",
            to_tier="municipal",
            reason="manual",
            code="other",
        )
        >= 1
    )

    history = await handle.fetch_history()
    replayer = Replayer(workflows=[*REQUEST_WORKFLOWS], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history)

    assert result.replay_failure is None
    assert counter_values(stack.registry) == before
    with Session(stack.engine) as session:
        assert len(repository.transitions(session, req.request_id)) == rows_before
    # and once more from the JSON form operators save with `temporal workflow show`
    again = await replayer.replay_workflow(
        type(history).from_json(history.workflow_id, history.to_json())
    )
    assert again.replay_failure is None
    assert counter_values(stack.registry) == before
