"""The kafka-python bugs that ``tierflow/kafka_fixes.py`` works around.

A reproduced bug (1) first shows the pinned client still has it (when that test fails, the
client was fixed: drop the workaround), then that the workaround cures it. A defensive one
(2, 3) is tested for the guarantee it protects, or through its seam with an injected clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.utils.clock import ManualClock
from tests.utils.eventually import eventually_sync
from tierflow.kafka_fixes import (
    CONSUMER_CONFIG,
    FetchWatch,
    JoinWatch,
    unstick_parked_partitions,
)
from tierflow.kafka_io import load_topic_metadata, make_producer


def _park_then_resume(bootstrap: str, topic: str) -> tuple[KafkaConsumer, TopicPartition]:
    """Leave partition 0's fetched records parked behind a drained in-line slot.

    Partition 0's records are fetched, then it is paused (its records are parked); a record
    of partition 1 is then drained from the in-line slot; partition 0 is resumed.
    """
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    producer = make_producer(bootstrap)
    for n in range(10):
        producer.send(topic, value=b"p0-%d" % n, partition=0)
    producer.flush(30)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=1
    )
    consumer.assign([p0, p1])
    consumer.seek_to_beginning(p0, p1)
    eventually_sync(lambda: consumer.poll(timeout_ms=200).get(p0), what="p0's first record")
    consumer.pause(p0)
    producer.send(topic, value=b"p1-0", partition=1)
    producer.flush(30)
    producer.close(timeout=5)
    eventually_sync(lambda: consumer.poll(timeout_ms=200).get(p1), what="p1's record")
    consumer.resume(p0)
    return consumer, p0


def test_the_pinned_client_loses_parked_partitions(kafka_broker, unique_topic) -> None:
    consumer, p0 = _park_then_resume(kafka_broker.bootstrap, unique_topic("parked", partitions=2))
    try:
        # bounded: 20 polls, the partition's 9 remaining records are all waiting on the broker
        got = [m for _ in range(20) for m in consumer.poll(timeout_ms=100).get(p0, [])]
        assert got == [], "kafka-python returns parked records again: drop the workaround"
        assert consumer.highwater(p0) == 10 and consumer.position(p0) == 1
    finally:
        consumer.close()


def test_unsticking_the_slot_brings_parked_partitions_back(kafka_broker, unique_topic) -> None:
    consumer, p0 = _park_then_resume(kafka_broker.bootstrap, unique_topic("parked", partitions=2))
    got: list = []

    def drained() -> bool:
        unstick_parked_partitions(consumer)
        got.extend(consumer.poll(timeout_ms=100).get(p0, []))
        return len(got) == 9

    try:
        eventually_sync(drained, what="p0's remaining records", detail=lambda: len(got))
    finally:
        consumer.close()
    assert [m.value for m in got] == [b"p0-%d" % n for n in range(1, 10)]


# ---------------------------------------------------------------- 2. incremental fetch sessions
# A member left this long without a finished join is replaced, as the ingress replaces it
# (item 3). A join normally takes 3-4 s (the first member hears of it at its next heartbeat);
# closing a member in mid-join waits out its LeaveGroup request (30 s), hence the waits of 90 s.
STUCK_JOIN_S = 15.0


@dataclass
class _Member:
    """A group member and the watch on its joins, as the ingress keeps them."""

    consumer: KafkaConsumer
    watch: JoinWatch

    def describe(self) -> str:
        owned = sorted(tp.partition for tp in self.consumer.assignment())
        return f"partitions {owned}, without a finished join for {self.watch.stuck_for():.0f} s"


def _member(bootstrap: str, topic: str, group: str, config: dict[str, Any]) -> _Member:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **config,
    )
    # as every consumer of the product does: a first join without the topic's partitions
    # assigns nothing and can hang for good (tierflow.kafka_fixes, item 3), not this test's bug
    load_topic_metadata(consumer, [topic])
    watch = JoinWatch()
    consumer.subscribe([topic], listener=watch)  # a listener, as the ingress has one
    return _Member(consumer, watch)


@pytest.mark.parametrize(
    "config",
    [CONSUMER_CONFIG, {}],
    ids=["full fetches (the workaround)", "incremental sessions (the client's default)"],
)
def test_every_partition_flows_again_after_a_member_joins_and_leaves(
    kafka_broker, unique_topic, config
) -> None:
    """dpkp/kafka-python#3131: after a rebalance a listener's partitions could stop flowing.

    The client's default passing too says the pinned client has the upstream fix (#3132,
    3.0.9): the workaround is defensive. A member whose join hangs (item 3, seen once here
    on a host with both cores busy) is replaced, as the ingress replaces it: that bug is
    not this test's.
    """
    topic, group = unique_topic("flow", partitions=4), f"flow-{uuid.uuid4().hex[:8]}"
    partitions = {TopicPartition(topic, p) for p in range(4)}
    producer = make_producer(kafka_broker.bootstrap)
    members = {"first": _member(kafka_broker.bootstrap, topic, group, config)}
    replaced: list[str] = []
    seen: set[tuple[int, bytes]] = set()

    def send_round(name: bytes) -> None:
        for p in range(4):
            producer.send(topic, value=name, partition=p)
        producer.flush(30)

    def poll(name: str) -> dict[TopicPartition, list[Any]]:
        member = members[name]
        records = member.consumer.poll(timeout_ms=100)
        if member.watch.stuck_for() > STUCK_JOIN_S:
            member.consumer.close()
            members[name] = _member(kafka_broker.bootstrap, topic, group, config)
            replaced.append(name)
        return records

    def received(name: bytes) -> bool:
        for tp, records in poll("first").items():
            seen.update((tp.partition, r.value) for r in records)
        return all((p, name) in seen for p in range(4))

    def described() -> str:
        said = "; ".join(f"{name}: {member.describe()}" for name, member in members.items())
        return f"{said}; replaced: {replaced or 'none'}"

    try:
        send_round(b"before")
        eventually_sync(lambda: received(b"before"), what="the first round", interval=0)
        members["second"] = _member(kafka_broker.bootstrap, topic, group, config)

        def shared() -> bool:
            poll("first")
            poll("second")
            return all(member.consumer.assignment() for member in members.values())

        eventually_sync(
            shared,
            timeout=90,
            what="the partitions shared by two members",
            detail=described,
            interval=0,
        )
        members.pop("second").consumer.close()
        eventually_sync(
            lambda: (
                poll("first") is not None and members["first"].consumer.assignment() == partitions
            ),
            timeout=90,
            what="every partition back with the first member",
            detail=described,
            interval=0,
        )
        send_round(b"after")
        eventually_sync(
            lambda: received(b"after"),
            timeout=20,
            what="the second round from every partition",
            detail=lambda: sorted(p for p, v in seen if v == b"after"),
            interval=0,
        )
    finally:
        producer.close(timeout=5)
        for member in members.values():
            member.consumer.close()


# ---------------------------------------------------------------- 3. a join that never finishes
def test_join_watch_counts_from_creation_until_the_first_assignment() -> None:
    clock = ManualClock()
    watch = JoinWatch(clock)
    clock.now += 45
    assert watch.stuck_for() == 45  # a consumer that never joined is replaced after the timeout
    watch.on_partitions_assigned(set())  # no partitions for this member: still a finished join
    clock.now += 600
    assert watch.stuck_for() == 0


def test_join_watch_counts_from_the_first_revocation_of_a_rebalance() -> None:
    clock = ManualClock()
    watch = JoinWatch(clock)
    watch.on_partitions_assigned({TopicPartition("t", 0)})
    clock.now += 10
    watch.on_partitions_revoked({TopicPartition("t", 0)})
    clock.now += 20
    watch.on_partitions_revoked(set())  # a second revocation does not restart the count
    clock.now += 5
    assert watch.stuck_for() == 25
    watch.on_partitions_assigned({TopicPartition("t", 0)})
    assert watch.stuck_for() == 0


# ---------------------------------------------------------------- 4. a member that stops fetching
P0, P1 = TopicPartition("commands", 0), TopicPartition("commands", 1)


def test_fetch_watch_names_a_partition_whose_position_stood_still_behind_records() -> None:
    clock = ManualClock()
    watch = FetchWatch(60.0, clock)
    watch.note({P0: 5, P1: 7}, {P0: 9, P1: 7})  # P1 caught up: nothing waits
    clock.now += 59.0
    watch.note({P0: 5, P1: 7}, {P0: 12, P1: 8})
    assert watch.starved() == []
    clock.now += 1.0
    assert watch.starved() == [P0]  # P1's record arrived 1 s ago


def test_fetch_watch_restarts_the_count_when_the_position_moves() -> None:
    clock = ManualClock()
    watch = FetchWatch(60.0, clock)
    watch.note({P0: 5}, {P0: 9})
    clock.now += 50.0
    watch.note({P0: 6}, {P0: 9})  # one record fetched: still fetching
    clock.now += 50.0
    watch.note({P0: 6}, {P0: 9})
    assert watch.starved() == []
    clock.now += 10.0
    assert watch.starved() == [P0]


def test_fetch_watch_takes_a_round_a_sixth_of_the_stall_time_after_the_last() -> None:
    clock = ManualClock()
    watch = FetchWatch(60.0, clock)
    clock.now += 9.0
    assert not watch.due()
    clock.now += 1.0
    assert watch.due()
    assert not watch.due()  # stamped: the next one is 10 s away


def test_fetch_watch_replaces_a_consumer_whose_checks_go_unanswered() -> None:
    """A client whose metadata names a broker the cluster no longer has never answers a check
    again (item 5): after the stall time of unanswered rounds, it is replaced; one answered
    round in between starts the count afresh."""
    clock = ManualClock()
    watch = FetchWatch(60.0, clock)
    gone = ConnectionError("UnknownBrokerIdError: 3")
    watch.note({P0: 5}, {P0: 9})
    assert watch.unanswered(gone) is None and watch.starved() == []
    clock.now += 59.0
    assert watch.unanswered(gone) is None
    clock.now += 1.0
    assert watch.unanswered(gone) == "fetch positions unanswered for 60 s (UnknownBrokerIdError: 3)"
    watch.forget()  # replaced: the new consumer's count starts afresh
    assert watch.unanswered(gone) is None


def test_fetch_watch_forgets_partitions_left_out_of_a_round_and_failed_rounds() -> None:
    clock = ManualClock()
    watch = FetchWatch(60.0, clock)
    watch.note({P0: 5, P1: 5}, {P0: 9, P1: 9})
    clock.now += 30.0
    watch.note({P0: 5}, {P0: 9})  # P1 paused or revoked this round
    clock.now += 30.0
    watch.note({P0: 5, P1: 5}, {P0: 9, P1: 9})
    assert watch.starved() == [P0]
    assert watch.unanswered(TimeoutError()) is None  # a round the brokers did not answer
    assert watch.starved() == []
