"""The group consumer both consuming processes build: commits by hand, the client's fixes on.

The ingress (commands) and the notifier (lifecycle events) read their topics the same way:
from the earliest record when the group has no offset, committing only what is done, with
the kafka-python workarounds of ``tierflow.kafka_fixes`` and the topics' metadata loaded
before the first group join. Each poll also reports the assignment and the partitions' end
offsets, for ``tierflow.partition_progress``. kafka-python is not thread-safe: call these on
the consumer's one thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from tierflow.kafka_fixes import CONSUMER_CONFIG, unstick_parked_partitions
from tierflow.kafka_io import CLIENT_METRICS, REQUEST_TIMEOUT_MS, load_topic_metadata

log = logging.getLogger("tierflow.kafka")


@dataclass(frozen=True)
class Polled:
    """One poll: the records by partition, the assignment after it, and known end offsets."""

    records: dict[TopicPartition, list[ConsumerRecord]]
    assignment: set[TopicPartition]
    highwaters: dict[TopicPartition, int]


def group_consumer(
    bootstrap: str,
    group_id: str,
    topics: list[str],
    *,
    max_records: int,
    config: dict[str, Any] | None = None,
    **settings: Any,
) -> KafkaConsumer:
    """Return a consumer of ``group_id`` that knows the partitions of ``topics``.

    ``config`` (security settings, tests' overrides) wins over the workarounds; ``settings``
    are the caller's own client settings. The caller subscribes it, with its rebalance
    listener if it has one, so a listener's clock starts once the metadata is loaded.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=f"tierflow-{group_id}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
        **{"request_timeout_ms": REQUEST_TIMEOUT_MS, **CLIENT_METRICS, **settings},
        **{**CONSUMER_CONFIG, **(config or {})},
    )
    load_topic_metadata(consumer, topics)
    return consumer


def poll(consumer: KafkaConsumer, timeout: float) -> Polled:
    """Poll once (parked partitions unstuck first); report the assignment and end offsets."""
    unstick_parked_partitions(consumer)
    records = consumer.poll(timeout_ms=int(timeout * 1000))
    assignment = set(consumer.assignment())
    highwaters = {tp: consumer.highwater(tp) for tp in assignment}
    return Polled(records, assignment, {tp: hw for tp, hw in highwaters.items() if hw is not None})


def commit(consumer: KafkaConsumer, positions: dict[TopicPartition, int]) -> bool:
    """Commit ``positions``; False (logged) if refused or failed: they are due again later."""
    try:
        consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in positions.items()})
        return True
    except CommitFailedError as exc:  # the group moved on: the next owner redelivers
        log.warning("commit refused (rebalance); records will be redelivered: %s", exc)
    except Exception as exc:  # noqa: BLE001 - transient: committed again next round
        log.warning("commit failed, retrying next round: %s", exc)
    return False
