"""The kafka-python bugs that ``workers/ingress/kafka_fixes.py`` works around, reproduced.

Each test first shows the pinned client still has the bug (when one fails there, the
client was fixed: drop the workaround), then that the workaround cures it.
"""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from tests.utils.eventually import eventually_sync
from tierflow.kafka_io import make_producer
from workers.ingress.kafka_fixes import unstick_parked_partitions


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
