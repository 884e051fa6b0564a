"""Write records kafka-python refuses to write, with Kafka's own Java client.

Another producer may legally write a record with no key and no value, or a header without a
value; kafka-python's producer will not. ``tests/integration/java/RawProducer.java`` runs on
Java's source launcher against the broker's own jars, so the ingress meets such records as
it would in production.
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic

from tierflow_dev.devstack import jvm
from tierflow_dev.devstack.kafka import check_java, resolve_kafka_jars

SOURCE = Path(__file__).resolve().parent.parent / "integration" / "java" / "RawProducer.java"


@dataclass(frozen=True)
class RawRecord:
    """A record as the Java client writes it; ``None`` is a null key, value or header value."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    big_value: int = 0  # > 0: a value of this many bytes ('x'), instead of ``value``
    partition: int = 0


def _field(raw: bytes | None) -> str:
    return "\\N" if raw is None else base64.b64encode(raw).decode()


def produce_raw(bootstrap: str, topic: str, records: list[RawRecord]) -> list[tuple[int, int]]:
    """Write ``records`` in order; return each one's (partition, offset)."""
    lines = []
    for r in records:
        value = f"@big:{r.big_value}" if r.big_value else _field(r.value)
        headers = ",".join(f"{name}={_field(raw)}" for name, raw in r.headers) or "-"
        lines.append("\t".join([str(r.partition), _field(r.key), value, headers]))
    argv = [
        check_java(),
        *jvm.options(),
        "-cp",
        f"{resolve_kafka_jars()}/*",
        str(SOURCE),
        bootstrap,
        topic,
    ]
    done = subprocess.run(
        argv, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pairs = [line.split("\t") for line in done.stdout.splitlines() if line.strip()]
    return [(int(partition), int(offset)) for partition, offset in pairs]


def create_topic(bootstrap: str, name: str, partitions: int = 1, **configs: str) -> str:
    """Create a topic with per-topic settings (e.g. ``max.message.bytes``)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    finally:
        admin.close()
    return name
