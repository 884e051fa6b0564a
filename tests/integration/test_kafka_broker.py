"""The local Kafka broker and tierflow's Kafka plumbing, against a real broker."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from schemas import dlq
from schemas.events import CloudEvent, CommandError, parse_command
from schemas.lifecycle import TransitionRecord, Wording
from tests.utils.eventually import eventually_sync
from tests.utils.factories import RecordFactory, make_request
from tierflow import dead_letter, kafka_io
from tierflow.kafka_io import make_consumer, make_producer, publish_event
from tierflow_dev.devstack import jvm
from tierflow_dev.devstack.kafka import (
    KafkaBroker,
    check_java,
    read_properties,
    resolve_kafka_jars,
)
from tierflow_dev.devstack.procs import StackError, free_port

NOW = datetime(2025, 9, 29, 2, 30, tzinfo=UTC)


def record(request_id: str, sequence: int) -> TransitionRecord:
    """The request's record number ``sequence``: an assignment."""
    factory = RecordFactory(make_request(request_id), start=NOW)
    factory.sequence = sequence - 1
    return factory.assigned("inst-110105-fin")


def drain(consumer: KafkaConsumer, want: int, timeout: float = 30) -> list:
    """Poll until ``want`` records arrived (or fail after ``timeout`` seconds)."""
    got: list = []

    def enough() -> bool:
        for records in consumer.poll(timeout_ms=500).values():  # poll itself waits
            got.extend(records)
        return len(got) >= want

    eventually_sync(enough, timeout, f"{want} records", detail=lambda: len(got), interval=0)
    return got


def read_all(bootstrap: str, topic: str, want: int) -> list:
    """Read a topic from the beginning without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        return drain(consumer, want)
    finally:
        consumer.close()


def test_publish_consume_commit_and_dead_letter(
    kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    events, dlq_topic = unique_topic("events", partitions=3), unique_topic("dlq")
    producer = make_producer(kafka_broker.bootstrap)
    try:
        sent = [publish_event(producer, events, record("req-a", n)) for n in (1, 2, 3)]
        publish_event(producer, events, record("req-b", 1))

        group = f"g-{events}"
        consumer = make_consumer(kafka_broker.bootstrap, group, [events])
        got = drain(consumer, 4)
        by_request = [m for m in got if m.key == b"req-a"]
        assert len({m.partition for m in by_request}) == 1  # one request, one partition
        assert [CloudEvent.model_validate_json(m.value).id for m in by_request] == [
            e.id for e in sent
        ]
        first = by_request[0]
        # structured mode by the CloudEvents Kafka binding: no ce_* headers beside the envelope
        assert first.headers == [("content-type", b"application/cloudevents+json")]
        envelope = json.loads(first.value)
        assert (envelope["id"], envelope["type"]) == ("req-a:1", "org.tierflow.request.assigned.v1")
        consumer.commit()
        consumer.close()

        # The same group sees only what came after its commit.
        publish_event(producer, events, record("req-c", 1))
        again = make_consumer(kafka_broker.bootstrap, group, [events])
        later = drain(again, 1)
        assert [m.key for m in later] == [b"req-c"]
        again.close()

        # a resolve without its text, as the ingress refuses it: English, and its wording
        bare = b'{"specversion": "1.0", "id": "c-1", "source": "/t", "subject": "r", '
        bare += b'"type": "org.tierflow.request.resolve.v1"}'
        with pytest.raises(CommandError) as refused:
            parse_command(bare, [])
        worded = Wording.of(refused.value.worded)
        why = dead_letter.DeadLetter("schema_invalid", refused.value.message, 3, worded)
        assert dead_letter.send(producer, dlq_topic, first, why)
    finally:
        producer.close()

    [parked] = read_all(kafka_broker.bootstrap, dlq_topic, 1)
    assert parked.value == first.value  # byte for byte
    assert parked.key == b"req-a"
    assert kafka_io.header(parked, dlq.DLQ_REASON) == "schema_invalid"
    english = "data.text: required for resolve: the resolution"
    assert kafka_io.header(parked, dlq.DLQ_MESSAGE) == english
    assert json.loads(kafka_io.header(parked, dlq.DLQ_WORDING) or "")["values"]["field"] == (
        "data.text"
    )
    assert kafka_io.header(parked, dlq.DLQ_TOPIC) == events
    assert kafka_io.header(parked, dlq.DLQ_PARTITION) == str(first.partition)
    assert kafka_io.header(parked, dlq.DLQ_OFFSET) == str(first.offset)
    assert kafka_io.header(parked, dlq.DLQ_ATTEMPTS) == "3"
    assert kafka_io.header(parked, "content-type") == "application/cloudevents+json"  # travels

    # the runbook reads the dead letters with `events tail`: each says why, and whence
    tail = [sys.executable, "-m", "tierflow.cli", "events", "tail", "--topic", dlq_topic]
    env = {**os.environ, "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap}
    origin = f"{events}[{first.partition}]@{first.offset}"
    for language, said in (  # the wording read in the reader's language, codes as words
        (
            "zh-CN",
            f"已搁置：schema_invalid：data.text：办结须填写办理结果（来自 {origin}，尝试次数：3）",
        ),
        ("en", f"parked: schema_invalid: {english} (from {origin}, attempts: 3)"),
    ):
        shown = subprocess.run(
            [*tail, "--from-beginning", "--max", "1"],
            env={**env, "TIERFLOW_LANG": language},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        first_line, second_line = shown.stdout.splitlines()
        assert "assigned.v1 subject=req-a" in first_line
        assert second_line == f"  {said}"


def test_ensure_topics_is_idempotent(kafka_broker: KafkaBroker) -> None:
    pid = kafka_broker.process.pid()
    kafka_broker.start()  # already running: returns at once, same process
    assert kafka_broker.process.pid() == pid

    name = f"ensure.{os.urandom(4).hex()}"
    kafka_broker.ensure_topics({name: 4})
    kafka_broker.ensure_topics({name: 4, f"{name}.b": 2})
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        described = {t["name"]: t for t in admin.describe_topics([name, f"{name}.b"])}
    finally:
        admin.close()
    assert len(described[name]["partitions"]) == 4
    assert len(described[f"{name}.b"]["partitions"]) == 2


def test_restart_and_kill_keep_data(kafka_broker: KafkaBroker, unique_topic: Callable) -> None:
    topic = unique_topic("durable")
    cluster_id = kafka_broker.cluster_id_path.read_text().strip()

    def send(request_id: str) -> None:
        producer = make_producer(kafka_broker.bootstrap)
        try:
            publish_event(producer, topic, record(request_id, 1))
        finally:
            producer.close()

    send("before-stop")
    kafka_broker.stop()
    assert not kafka_broker.is_running() and not kafka_broker.healthy()
    kafka_broker.start()
    send("before-kill")
    kafka_broker.kill()
    assert not kafka_broker.is_running()
    kafka_broker.start()

    keys = [m.key for m in read_all(kafka_broker.bootstrap, topic, 2)]
    assert keys == [b"before-stop", b"before-kill"]
    meta = read_properties(kafka_broker.data_dir / "meta.properties")
    assert meta["cluster.id"] == cluster_id
    assert "Kafka Server started" in kafka_broker.log_path.read_text()


def test_brokers_map_the_class_archive_the_first_clean_stop_wrote(tmp_path: Path) -> None:
    """A killed broker leaves no archive (it would be half written); the first broker to stop
    cleanly writes it, and the next one maps it and serves."""
    jars = tmp_path / "jars"  # jars of their own, so the machine's archive is not touched
    jars.mkdir()
    for jar in resolve_kafka_jars().glob("*.jar"):
        (jars / jar.name).symlink_to(jar)
    archive = jvm.ClassArchive(jars, check_java()).path

    def broker(name: str) -> KafkaBroker:
        ports = {"port": free_port(), "controller_port": free_port()}
        return KafkaBroker(home=tmp_path / name, jars_dir=jars, **ports)

    killed = broker("killed")
    killed.start()
    killed.kill()
    assert not archive.exists() and not list(jars.glob("*.part"))
    first = broker("first")
    first.start()
    first.stop()
    assert archive.is_file() and not list(jars.glob("*.part"))

    second = broker("second")
    second.start()
    try:
        assert str(archive) in Path(f"/proc/{second.pid()}/maps").read_text()
        second.ensure_topics({"archived": 1})
    finally:
        second.stop()
    assert archive.is_file() and not list(jars.glob("*.part"))


def test_corrupt_meta_properties_is_named_with_the_fix(tmp_path: Path) -> None:
    broker = KafkaBroker(home=tmp_path, port=free_port(), controller_port=free_port())
    broker.data_dir.mkdir(parents=True)
    (broker.data_dir / "meta.properties").write_text("\x00\x13garbage")
    with pytest.raises(StackError) as info:
        broker.start()
    message = str(info.value)
    assert str(broker.data_dir) in message
    assert "tierflow dev reset kafka" in message
    assert not broker.is_running()


def test_cluster_id_mismatch_is_refused(tmp_path: Path) -> None:
    broker = KafkaBroker(home=tmp_path, port=free_port(), controller_port=free_port())
    broker.data_dir.mkdir(parents=True)
    meta = "version=1\nnode.id=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\ndirectory.id=x\n"
    (broker.data_dir / "meta.properties").write_text(meta)
    broker.cluster_id_path.write_text("BBBBBBBBBBBBBBBBBBBBBB\n")
    with pytest.raises(StackError, match="cluster id AAAAAAAAAAAAAAAAAAAAAA differs"):
        broker.start()


def test_broker_refusing_its_data_dir_is_reported(tmp_path: Path) -> None:
    """A meta.properties only Kafka itself rejects: the broker exits and we quote why."""
    broker = KafkaBroker(home=tmp_path, port=free_port(), controller_port=free_port())
    broker.data_dir.mkdir(parents=True)
    meta = "version=7\nnode.id=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\ndirectory.id=x\n"
    (broker.data_dir / "meta.properties").write_text(meta)
    with pytest.raises(StackError) as info:
        broker.start(timeout=60)
    message = str(info.value)
    assert "meta.properties" in message and "tierflow dev reset kafka" in message
    assert not broker.is_running()


def test_taken_port_names_the_pid(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        broker = KafkaBroker(home=tmp_path, port=port, controller_port=free_port())
        with pytest.raises(StackError, match=f"port {port} .* in use by pid {os.getpid()}"):
            broker.start()
    assert not broker.is_running()


def test_cli_publish_and_tail(kafka_broker: KafkaBroker, unique_topic: Callable, tmp_path: Path):
    topic = unique_topic("cli")
    command = tmp_path / "withdraw.json"
    command.write_text(
        '{"type": "org.tierflow.request.withdraw.v1", "source": "/tests", "subject": "req-w"}'
    )
    env = {**os.environ, "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap}
    cli = [sys.executable, "-m", "tierflow.cli", "events"]
    sent = subprocess.run(
        [*cli, "publish", str(command), "--topic", topic], env=env, capture_output=True, text=True
    )
    assert sent.returncode == 0, sent.stderr
    assert f"{topic}[0]@0" in sent.stdout  # "published ... to" in the shell's language

    shown = subprocess.run(
        [*cli, "tail", "--topic", topic, "--from-beginning", "--max", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "withdraw.v1 subject=req-w" in shown.stdout

    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "org.tierflow.request.resolve.v1", "source": "/t", "subject": "r"}')
    for language, said in (
        ("en", "not sent: schema_invalid: data.text: required for resolve: the resolution"),
        ("zh-CN", "未发送：schema_invalid：data.text：办结须填写办理结果"),
    ):
        refused = subprocess.run(
            [*cli, "publish", str(bad), "--topic", topic],
            env={**env, "TIERFLOW_LANG": language},
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 2 and refused.stderr.strip() == said


def test_missing_java_or_maven_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """With only the real java on PATH, then with nothing: each missing tool is named."""
    java = shutil.which("java")
    assert java is not None
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    with pytest.raises(StackError, match="Java 17\\+ not found: install openjdk-17-jre-headless"):
        resolve_kafka_jars(tmp_path / "cache")

    (bare / "java").symlink_to(java)
    with pytest.raises(StackError, match="Maven \\(mvn\\) not found"):
        resolve_kafka_jars(tmp_path / "cache")
    assert not (tmp_path / "cache" / ".resolved").exists()
