"""The group consumer both consuming processes build: commits by hand, the client's fixes on.

The ingress (commands) and the notifier (lifecycle events) read their topics the same way:
from the earliest record when the group has no offset, committing only what is done, with
the kafka-python workarounds of ``tierflow.kafka_fixes`` and the topics' metadata loaded
before the first group join.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer

from tierflow.kafka_fixes import CONSUMER_CONFIG
from tierflow.kafka_io import load_topic_metadata


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
        **settings,
        **{**CONSUMER_CONFIG, **(config or {})},
    )
    load_topic_metadata(consumer, topics)
    return consumer
