"""Prometheus metrics of the notifier, on a registry the caller owns.

Labels are channels, rules, webhooks' names, reasons and outcomes: never a recipient or an
address.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from schemas.dlq import DeadLetterReason
from tierflow.db.notification_models import Channel
from tierflow.partition_progress import PartitionGauges
from workers.notifier.health import BacklogGauges

# Why the notifier parks a lifecycle event (the rest are the ingress's own)
NOTIFIER_REASONS = (
    DeadLetterReason.NOT_JSON,
    DeadLetterReason.NOT_CLOUDEVENT,
    DeadLetterReason.UNKNOWN_TYPE,
    DeadLetterReason.SCHEMA_INVALID,
    DeadLetterReason.UNPLANNABLE,
)


class NotifierMetrics:
    """Events read, messages planned, sent, failed, retried and dead-lettered, by channel;
    the consumer's lag and stalls per partition; the sender's backlog."""

    def __init__(self, registry: CollectorRegistry, webhooks: Sequence[str] = ()) -> None:
        self.events = Counter(
            "tierflow_notifier_events_total",
            "Lifecycle events read, by outcome (planned, nothing_to_send, duplicate, "
            "dead_lettered)",
            ["outcome"],
            registry=registry,
        )
        self.event_dead_letters = Counter(
            "tierflow_notifier_dead_letters_total",
            "Lifecycle events the notifier could not read, parked on its dead-letter topic",
            ["reason"],
            registry=registry,
        )
        self.planned = Counter(
            "tierflow_notifications_planned_total",
            "Messages recorded for sending (first write of event, channel and recipient only)",
            ["channel"],
            registry=registry,
        )
        self.sent = Counter(
            "tierflow_notifications_sent_total",
            "Messages delivered (inbox: written; others: accepted by the server or endpoint)",
            ["channel"],
            registry=registry,
        )
        self.failed = Counter(
            "tierflow_notifications_failed_total",
            "Send attempts that failed (each is retried later unless dead-lettered)",
            ["channel"],
            registry=registry,
        )
        self.retried = Counter(
            "tierflow_notifications_retried_total",
            "Messages put back for another attempt after a failure or an open breaker",
            ["channel"],
            registry=registry,
        )
        self.dead = Counter(
            "tierflow_notifications_dead_total",
            "Messages given up (endpoint down for the whole retry period, or refused for good)",
            ["channel"],
            registry=registry,
        )
        self.webhook_sends = Counter(
            "tierflow_notifier_webhook_sends_total",
            "Send attempts per webhook of the rules file, by outcome (sent, failed): one "
            "endpoint down shows here while the others carry the channel",
            ["webhook", "outcome"],
            registry=registry,
        )
        self.partitions = PartitionGauges("tierflow_notifier", "events", registry)
        # from 0, so that increase() sees a pod's first failure, send or dead letter of a kind
        for channel in Channel:
            for counter in (self.sent, self.failed, self.dead):
                counter.labels(channel.value)
        for reason in NOTIFIER_REASONS:
            self.event_dead_letters.labels(reason.value)
        for webhook in webhooks:  # the rules file's names: a bounded set
            for outcome in ("sent", "failed"):
                self.webhook_sends.labels(webhook, outcome)
        self.backlog = BacklogGauges(registry)
