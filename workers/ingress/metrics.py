"""Prometheus metrics of the Kafka command ingress, on a registry the caller owns."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.dlq import DeadLetterReason
from tierflow.partition_progress import PartitionGauges

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class IngressMetrics:
    """Commands by type and outcome, dead letters by reason, latency, lag, stalls, retries."""

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
        self.dead_letter_failures = Counter(
            "tierflow_ingress_dead_letter_failures_total",
            "Records the dead-letter topic refused for good, even as a minimal copy "
            "(logged with their topic, partition and offset, then passed)",
            registry=registry,
        )
        self.latency = Histogram(
            "tierflow_ingress_latency_seconds",
            "From the broker's append of a command (LogAppendTime) to the Temporal call's end",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.partitions = PartitionGauges("tierflow_ingress", "commands", registry)
        self.rate_limited = Counter(
            "tierflow_ingress_rate_limited_total",
            "Commands held back because their system client was over its rate",
            ["client"],
            registry=registry,
        )
        self.retries = Counter(
            "tierflow_ingress_retries_total",
            "Transient failures retried (Temporal unreachable, workflow not found yet, timeouts)",
            registry=registry,
        )
        self.retrying = Gauge(
            "tierflow_ingress_commands_retrying",
            "Commands between a first transient failure and their final answer (waiting for "
            "their request to exist, or for Temporal)",
            registry=registry,
        )
        # every reason from 0, so that increase() sees a pod's first dead letter of a reason
        for reason in DeadLetterReason:
            if reason is not DeadLetterReason.UNPLANNABLE:  # the notifier's own
                self.dead_letters.labels(reason.value)


@dataclass
class IngressStats:
    """Per-instance tallies (the Prometheus counters are per registry)."""

    applied: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    retries: int = 0  # transient failures retried
    retrying: int = 0  # commands retried at least once and not yet answered
    abandoned: int = 0  # left unfinished at shutdown or revocation: redelivered
    rebuilds: int = 0  # consumers replaced: a join that never finished, or fetching stopped

    @property
    def committed(self) -> int:
        return self.applied + self.duplicate + self.dead_lettered
