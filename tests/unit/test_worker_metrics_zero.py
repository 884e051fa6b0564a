"""A new worker's counters start at 0 where an alert divides by them or counts their first
increment: Prometheus's ``increase()`` cannot see an increment of a series born at 1."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from schemas.domain import Category, Priority, Tier
from tierflow.metrics import WorkerMetrics


def test_resolutions_start_at_zero_for_every_kind_of_request() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    for category in Category:
        for priority in Priority:
            for tier in Tier:
                labels = {
                    "outcome": "resolved",
                    "category": category.value,
                    "priority": priority.value,
                    "tier": tier.value,
                }
                assert registry.get_sample_value("tierflow_requests_total", labels) == 0.0, labels
