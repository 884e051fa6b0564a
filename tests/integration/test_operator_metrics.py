"""Metrics that find wedged requests: holds for an operator and requests without progress.

Computed from the read model at scrape time (SQLite and PostgreSQL); the hold counter counts
the first write of an ``operator_needed`` event only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from activities.persistence import TransitionWriter
from schemas.domain import Tier
from schemas.lifecycle import EventType
from tests.utils.factories import RecordFactory, make_request
from tests.utils.stack_helpers import sample
from tierflow.db.engine import make_engine
from tierflow.metrics import ReadModelCollector, WorkerMetrics


def test_holds_and_idle_requests_show_at_scrape_time(db_engine: Engine) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    registry.register(ReadModelCollector(db_engine))
    writer = TransitionWriter(db_engine, metrics)
    now = datetime.now(UTC)

    idle = RecordFactory(make_request("req-idle"), start=now - timedelta(days=30))
    writer.persist([idle.submitted(), idle.assigned("zj-330106-sme", Tier.COUNTY)])

    held = RecordFactory(make_request("req-held"), start=now - timedelta(hours=1))
    records = [held.submitted(), held.assigned("zj-330106-sme", Tier.COUNTY)]
    needed = held.emit(EventType.OPERATOR_NEEDED, details={"step": "resolve_institution"})
    needed.summary.needs_operator = True
    records.append(needed)
    writer.persist(records)
    writer.persist(records)  # a retried activity: counted once

    assert sample(registry, "tierflow_requests_needing_operator", tier="county") == 1
    assert sample(registry, "tierflow_operator_holds_total", step="resolve_institution") == 1
    assert sample(registry, "tierflow_operator_holds_total", step="load_policy") == 0
    oldest = sample(registry, "tierflow_oldest_idle_request_seconds", state="assigned")
    assert (
        30 * 86400 - 3600 < oldest <= 30 * 86400
    )  # the idle one (assigned 10 min after), not the recent one

    done = RecordFactory(make_request("req-done"), start=now - timedelta(days=90))
    writer.persist([done.submitted(), done.assigned("zj-330106-sme"), done.closed()])
    # finished requests are never idle; the 90-day-old closed one changes nothing
    assert sample(registry, "tierflow_oldest_idle_request_seconds", state="closed") == 0
    assert sample(registry, "tierflow_oldest_idle_request_seconds", state="assigned") < 31 * 86400


def test_a_database_it_cannot_read_shows_as_down_not_as_an_empty_backlog(
    db_engine: Engine, tmp_path
) -> None:
    """The gauges come from the database at each scrape: when it cannot be read they are
    absent, and ``tierflow_read_model_up`` says why (alerts on the gauges resolve meanwhile)."""
    registry = CollectorRegistry()
    registry.register(ReadModelCollector(db_engine))
    assert registry.get_sample_value("tierflow_read_model_up") == 1.0
    gone = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'gone.db'}")
    down = CollectorRegistry()
    down.register(ReadModelCollector(gone))
    assert down.get_sample_value("tierflow_read_model_up") == 0.0
    assert (
        down.get_sample_value("tierflow_open_requests", {"tier": "county", "state": "assigned"})
        is None
    )
    gone.dispose()
