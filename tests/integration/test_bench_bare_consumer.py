"""The ingress bench's bare loops read through a group member that survives a stuck join.

kafka-python can leave a consumer in a group join that never completes (``tierflow.kafka_fixes``,
item 3; once seen in the bench's bare loop: commits refused with RebalanceInProgress, then
nothing for minutes). The stall is not reproducible on demand, so the test reports a rebalance
start to the member's join watch, as the client does, and never lets it finish.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.utils.eventually import eventually_sync
from tierflow.kafka_io import make_producer
from tierflow_dev.bench.bare_consumer import GroupMember


def _next_batch(member: GroupMember, what: str) -> dict[Any, list[Any]]:
    """Poll until a poll returns records; return that batch."""
    got: dict[Any, list[Any]] = {}

    def polled() -> bool:
        got.update(member.poll(0.2))
        return bool(got)

    eventually_sync(polled, 30, what)
    return got


def _keys(batch: dict[Any, list[Any]]) -> list[bytes]:
    return [m.key for records in batch.values() for m in records]


def test_a_member_stuck_in_a_join_is_replaced_and_reads_on(kafka_broker, unique_topic) -> None:
    topic = unique_topic("bare-member", partitions=2)
    producer = make_producer(kafka_broker.bootstrap)
    group = f"bench-bare-{uuid.uuid4().hex[:6]}"
    member = GroupMember(kafka_broker.bootstrap, group, topic, 10)  # a first join takes seconds
    try:
        producer.send(topic, key=b"first", value=b"{}").get(timeout=30)
        batch = _next_batch(member, "the first record")
        assert _keys(batch) == [b"first"] and member.commit(batch)

        # a loaded machine's first join can outlast the default 30 s: replaced once already
        stuck, before, member.rejoin_after = member.consumer, member.replaced, 0.5

        def replaced() -> bool:
            # a join begins and never finishes (renewed if the client's own rejoin ended it)
            if member.replaced == before and member.watch.stuck_for() == 0:
                member.watch.on_partitions_revoked(set())
            return member.poll(0.2) == {} and member.replaced == before + 1

        eventually_sync(replaced, 10, "the stuck consumer replaced")
        assert member.consumer is not stuck and member.replaced == before + 1

        producer.send(topic, key=b"second", value=b"{}").get(timeout=30)
        batch = _next_batch(member, "the second record")
        assert _keys(batch) == [b"second"], "the new member reads on from the committed offset"
        assert member.commit(batch) and member.replaced == before + 1
    finally:
        member.close()
        producer.close(timeout=5)
