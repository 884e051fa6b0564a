"""Prometheus metrics of the Kafka command ingress, on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class IngressMetrics:
    """Commands by type and outcome, dead letters by reason, latency, lag and retries."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Counter(
            "tierflow_ingress_commands_total",
            "Commands consumed, by command type and outcome (applied, duplicate, dead_lettered)",
            ["type", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "tierflow_ingress_dead_letters_total",
            "Commands parked on the dead-letter topic, by reason code",
            ["reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "tierflow_ingress_latency_seconds",
            "CloudEvent time (or Kafka timestamp) until the Temporal call returned",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "tierflow_ingress_consumer_lag",
            "End offset minus position, per assigned commands partition",
            ["partition"],
            registry=registry,
        )
        self.retries = Counter(
            "tierflow_ingress_retries_total",
            "Transient failures retried (Temporal unreachable, workflow not found yet, timeouts)",
            registry=registry,
        )
