"""SLA metrics end to end: real breaches and escalations -> /metrics -> Prometheus -> alerts.

A second worker runs the real workflow and activities on its own task queue with a policy of
a few business seconds per tier on a round-the-clock calendar (no weekends, no holidays), so
SLA clocks run out within seconds whatever day the test runs on. A real Prometheus (Debian's
package) scrapes that worker's registry every second and evaluates the project's rule file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from schemas.domain import ClockKind, Role, Tier
from schemas.lifecycle import ActionKind, EventType
from schemas.request import Actor
from tests.utils.factories import make_request
from tests.utils.fast_policy import DAY_SECONDS, Targets, policy_worker
from tests.utils.stack_helpers import act, eventually, sample, start_request
from tierflow.db import repository
from tierflow.health import HealthServer, serve_metrics_and_health
from tierflow.metrics import ReadModelCollector, WorkerMetrics
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.prometheus import RULES_FILE, PrometheusServer
from workflows.service_request import ServiceRequestWorkflow

RESPONSE_SECONDS = 3
RESOLUTION_SECONDS = 5
FAST_TARGETS = Targets(
    response=RESPONSE_SECONDS, resolution=RESOLUTION_SECONDS, reopen_window=DAY_SECONDS
)


def zero_fill(metrics: WorkerMetrics) -> None:
    """Create every tier/clock series at 0 so Prometheus sees the first increment."""
    for tier in Tier:
        for clock in ClockKind:
            metrics.sla_breaches.labels(clock.value, tier.value)
            metrics.sla_warnings.labels(clock.value, tier.value)


@dataclass
class FastWorker:
    """A worker with the fast policy, its own registry and its /metrics endpoint."""

    task_queue: str
    registry: CollectorRegistry
    metrics: WorkerMetrics
    health: HealthServer


@pytest_asyncio.fixture(loop_scope="session")
async def fast_worker(stack) -> AsyncIterator[FastWorker]:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    zero_fill(metrics)
    registry.register(ReadModelCollector(stack.engine))
    health = serve_metrics_and_health(0, registry, lambda: True)
    try:
        async with policy_worker(stack, FAST_TARGETS, metrics, "fast-sla") as task_queue:
            yield FastWorker(task_queue, registry, metrics, health)
    finally:
        health.close()


@pytest.fixture
def prometheus(fast_worker: FastWorker, tmp_path: Path) -> Iterator[PrometheusServer]:
    """Debian's Prometheus with the project's rules, scraping the fast worker every second."""
    server = PrometheusServer(tmp_path, free_port(), tmp_path / "prometheus.yml")
    target = fast_worker.health.url.removeprefix("http://")
    server.write_config(
        {"tierflow-worker": [target]},
        rule_files=[RULES_FILE],
        scrape_interval="1s",
        evaluation_interval="1s",
    )
    server.start(timeout=30)
    try:
        yield server
    finally:
        server.stop()


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics over HTTP and return {(sample name, labels): value}."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def firing(server: PrometheusServer, alertname: str) -> list[dict]:
    return [
        a
        for a in server.alerts()
        if a["labels"]["alertname"] == alertname and a["state"] == "firing"
    ]


async def test_breaches_and_escalations_reach_metrics_and_fire_alerts(
    stack, fast_worker: FastWorker, prometheus: PrometheusServer
) -> None:
    # Prometheus has a zero sample of every series before anything breaches.
    await eventually(
        lambda: prometheus.api("query", query='tierflow_sla_breaches_total{tier="national"}')[
            "result"
        ],
        what="first scrape of the fast worker",
    )
    req = make_request()
    on_fast_worker = SimpleNamespace(client=stack.client, task_queue=fast_worker.task_queue)
    handle = await start_request(on_fast_worker, req)
    try:
        view = await handle.query(ServiceRequestWorkflow.view)
        cw = Actor(id="cw-1", role=Role.CASEWORKER, institution_id=view.summary.institution_id)
        manual = await act(handle, ActionKind.ESCALATE, cw, text="needs the city's bank network")
        assert manual.tier is Tier.MUNICIPAL

        # municipal and provincial response clocks run out and escalate; at the national
        # tier both clocks run out and each raises a supervisor alert
        await eventually(
            lambda: sample(fast_worker.registry, "tierflow_supervisor_alerts_total") >= 2,
            timeout=60,
            what="two supervisor alerts at the national tier",
        )
    finally:
        await handle.terminate("observability test done")

    with Session(stack.engine) as session:
        audit = repository.transitions(session, req.request_id)
    breaches = [t for t in audit if t.event_type is EventType.SLA_BREACHED]
    escalations = [t for t in audit if t.event_type is EventType.ESCALATED]
    assert [(t.to_tier, t.details["clock"]) for t in breaches] == [
        (Tier.MUNICIPAL, "response"),
        (Tier.PROVINCIAL, "response"),
        (Tier.NATIONAL, "response"),
        (Tier.NATIONAL, "resolution"),
    ]
    assert [(t.from_tier, t.to_tier) for t in escalations] == [
        (Tier.COUNTY, Tier.MUNICIPAL),
        (Tier.MUNICIPAL, Tier.PROVINCIAL),
        (Tier.PROVINCIAL, Tier.NATIONAL),
    ]

    # /metrics over HTTP says exactly what the audit trail says
    samples = scrape(fast_worker.health.url)
    for tier, clock in [(b.to_tier.value, b.details["clock"]) for b in breaches]:
        expected = sum(
            1 for b in breaches if (b.to_tier.value, b.details["clock"]) == (tier, clock)
        )
        assert total(samples, "tierflow_sla_breaches_total", tier=tier, clock=clock) == expected
    assert total(samples, "tierflow_sla_breaches_total", tier="county") == 0
    assert total(samples, "tierflow_escalations_total", reason="manual") == 1
    assert (
        total(
            samples,
            "tierflow_escalations_total",
            from_tier="county",
            to_tier="municipal",
            reason="manual",
        )
        == 1
    )
    assert total(samples, "tierflow_escalations_total", reason="breach") == 2
    assert total(samples, "tierflow_supervisor_alerts_total") == 2
    assert total(samples, "tierflow_transitions_total", event_type="escalated") == 3
    assert total(samples, "tierflow_sla_warnings_total") == sum(
        1 for t in audit if t.event_type is EventType.SLA_WARNING
    )

    # Prometheus, evaluating the project's rules, fires the breach and supervisor alerts
    breach_alerts = await eventually(
        lambda: firing(prometheus, "TierflowSlaBreaches") if _all_tiers(prometheus) else [],
        timeout=30,
        what="TierflowSlaBreaches firing for municipal, provincial and national",
    )
    assert {a["labels"]["tier"] for a in breach_alerts} == {"municipal", "provincial", "national"}
    assert all(a["labels"]["severity"] == "warning" for a in breach_alerts)
    assert breach_alerts[0]["annotations"]["runbook_url"] == "docs/runbooks.md#tierflowslabreaches"
    supervisor = await eventually(
        lambda: firing(prometheus, "TierflowSupervisorAlert"),
        timeout=30,
        what="TierflowSupervisorAlert firing",
    )
    assert supervisor[0]["labels"]["severity"] == "critical"
    attainment = prometheus.api("query", query="tier:tierflow_sla_breaches:increase1h")["result"]
    assert {r["metric"]["tier"] for r in attainment if float(r["value"][1]) > 0} == {
        "municipal",
        "provincial",
        "national",
    }
    # every rule evaluates without error against real series
    broken = [(r["name"], r.get("lastError")) for r in prometheus.rules() if r["health"] == "err"]
    assert broken == []


def _all_tiers(server: PrometheusServer) -> bool:
    tiers = {a["labels"].get("tier") for a in firing(server, "TierflowSlaBreaches")}
    return {"municipal", "provincial", "national"} <= tiers
