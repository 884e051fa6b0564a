"""A dedicated local stack per chaos module: real processes we can kill, stop and lock.

``ChaosStack`` wraps :class:`tierflow_dev.devstack.stack.LocalStack` in a temporary home on free
ports: the Temporal dev server (SQLite file store), the Kafka broker, the migrated SQLite read
model, and ``tierflow worker`` / ``tierflow ingress`` as separate processes with pidfiles.
It adds what the tests read back: Kafka topics, the read model and the ingress /metrics.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from tenacity import Retrying, wait_fixed

from tests.utils.eventually import eventually_sync
from tests.utils.stack_helpers import assign_whole_topic
from tests.utils.system_clients import write_trusted_clients
from tierflow import constants
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.kafka_io import make_producer
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.stack import AppProcess, LocalStack, http_ok

SOURCE = "/tests/chaos"  # the CloudEvents source of every command the chaos tests publish


def chaos_settings(home: Path, policy_file: Path) -> Settings:
    """Settings for a stack of its own: every port free, state under ``home``."""
    home.mkdir(parents=True, exist_ok=True)  # the system clients file is written into it
    ports: list[int] = []
    while len(ports) < 8:  # free_port may hand out the same port twice in a row
        port = free_port()
        if port not in ports:
            ports.append(port)
    return Settings(
        home=home,
        temporal_address=f"127.0.0.1:{ports[0]}",
        temporal_ui_port=ports[1],
        kafka_bootstrap_servers=f"127.0.0.1:{ports[2]}",
        kafka_controller_port=ports[3],
        api_port=ports[4],
        worker_metrics_port=ports[5],
        worker_sdk_metrics_port=ports[6],
        ingress_metrics_port=ports[7],
        policy_file=policy_file,
        ingress_not_found_seconds=10.0,
        # a killed ingress's partitions wait this long for the restarted one (15 s by default)
        ingress_session_timeout_seconds=8.0,
        system_clients_file=write_trusted_clients(home / "system_clients.toml", SOURCE),
    )


@dataclass
class ChaosStack:
    """Temporal, Kafka, SQLite, worker and ingress of one chaos module."""

    local: LocalStack
    engine: Engine = field(init=False)
    _producer: KafkaProducer | None = field(default=None, init=False)

    @property
    def settings(self) -> Settings:
        return self.local.settings

    @property
    def bootstrap(self) -> str:
        return self.local.kafka_bootstrap

    @property
    def worker(self) -> AppProcess:
        return self.local.apps["worker"]

    @property
    def ingress(self) -> AppProcess:
        return self.local.apps["ingress"]

    @property
    def sqlite_path(self) -> Path:
        path = self.local.sqlite_path
        assert path is not None, "chaos stacks use the SQLite read model"
        return path

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 180) -> None:
        """Start Temporal, Kafka, the database, the worker and the ingress (no API)."""
        local = self.local
        local.preflight(with_processes=True)
        local.home.mkdir(parents=True, exist_ok=True)
        local.temporal.start(timeout=timeout)
        local.kafka.start(timeout=timeout)
        local.kafka.ensure_topics(constants.TOPICS)
        upgrade(local.database_url)
        self.engine = make_engine(local.database_url)
        self.start_app("worker")
        self.start_app("ingress")

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
        self.local.down(timeout=15)
        engine = self.__dict__.get("engine")
        if engine is not None:
            engine.dispose()

    def start_app(self, name: str, timeout: float = 90) -> None:
        self.local.start_app(self.local.apps[name], timeout)

    def kill_app(self, name: str) -> int:
        """Kill -9 a process (its whole group); return the pid it had."""
        process = self.local.apps[name].process
        pid = process.pid()
        assert pid is not None, f"{name} is not running"
        process.kill()
        return pid

    def restart_temporal(self, kill: bool = False, down_for: float = 1.0) -> float:
        """Stop (or kill -9) the dev server, wait, start it on the same file store.

        Returns the monotonic time at which it answered again.
        """
        temporal = self.local.temporal
        if kill:
            temporal.kill()
        else:
            temporal.stop(timeout=20)
        time.sleep(down_for)  # the outage itself: the server stays down this long
        temporal.start(timeout=120)
        return time.monotonic()

    # ------------------------------------------------------------------ Kafka
    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self.bootstrap, client_id="tierflow-chaos")
        return self._producer

    def publish(
        self, messages: Iterable[Message], producer: KafkaProducer | None = None
    ) -> list[Sent]:
        """Send messages to the commands topic; return where each one landed."""
        prod = producer or self.producer
        futures = [
            (m, prod.send(constants.COMMANDS_TOPIC, key=m.key, value=m.value, headers=m.headers))
            for m in messages
        ]
        prod.flush(timeout=60)
        sent = []
        for message, future in futures:
            meta = future.get(timeout=60)
            sent.append(Sent(message, meta.partition, meta.offset))
        return sent

    def publish_retrying(self, messages: list[Message], deadline: float) -> tuple[list[Sent], int]:
        """Send one by one, retrying each until the broker acks it (it may be down).

        Like a careful client, a failed send drops the producer and builds a new one (a
        producer created while the broker is away may never recover its connection).
        Returns the acknowledged sends and how many attempts failed meanwhile. A failed
        attempt may still have been written: the copy is a harmless duplicate (same id).
        """
        sent: list[Sent] = []
        failures = 0
        producer: KafkaProducer | None = None

        def send(message: Message) -> Sent:
            nonlocal failures, producer
            try:
                if producer is None:
                    producer = make_producer(
                        self.bootstrap,
                        client_id="tierflow-chaos-retrying",
                        max_block_ms=3000,
                        request_timeout_ms=5000,
                    )
                meta = producer.send(
                    constants.COMMANDS_TOPIC,
                    key=message.key,
                    value=message.value,
                    headers=message.headers,
                ).get(timeout=10)
            except Exception:
                failures += 1
                if producer is not None:
                    producer.close(timeout=1)
                    producer = None
                raise
            return Sent(message, meta.partition, meta.offset)

        retrying = Retrying(  # broker down: try again every half second until the deadline
            wait=wait_fixed(0.5),
            stop=lambda _state: time.monotonic() > deadline,
            reraise=True,
        )
        try:
            for message in messages:
                sent.append(retrying(send, message))
        finally:
            if producer is not None:
                producer.close(timeout=5)
        return sent, failures

    def read_topic(self, topic: str, timeout: float = 60) -> list[ConsumerRecord]:
        """Read a whole topic from the beginning to its current end offsets."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=2 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
        )
        try:
            ends = assign_whole_topic(consumer, topic)
            records: list[ConsumerRecord] = []

            def at_end() -> bool:
                if all(consumer.position(tp) >= end for tp, end in ends.items()):
                    return True
                for batch in consumer.poll(timeout_ms=500).values():  # poll itself waits
                    records.extend(batch)
                return False

            eventually_sync(
                at_end,
                timeout,
                f"{topic} read to its end",
                detail=lambda: f"{len(records)} records",
                interval=0,
            )
            return records
        finally:
            consumer.close()

    def events(self, request_ids: set[str]) -> list[dict]:
        """Return the lifecycle CloudEvents of these requests, duplicates included."""
        keys = {rid.encode() for rid in request_ids}
        return [
            json.loads(r.value) for r in self.read_topic(constants.EVENTS_TOPIC) if r.key in keys
        ]

    # ------------------------------------------------------------------ read model
    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def transitions(self, request_ids: Iterable[str]) -> list[Any]:
        """Audit rows of these requests (event_id, request_id, sequence, type, action_id)."""
        wanted = sorted(set(request_ids))
        rows: list[Any] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ", ".join(f":r{j}" for j in range(len(chunk)))
            rows += self.query(
                "SELECT event_id, request_id, sequence, event_type, action_id, reason, "
                f"occurred_at, to_tier FROM transition WHERE request_id IN ({marks})",
                **{f"r{j}": rid for j, rid in enumerate(chunk)},
            )
        return rows

    def states(self, request_ids: Iterable[str]) -> dict[str, Any]:
        """Read-model rows of these requests by id (state, tier, last_sequence ...)."""
        wanted = set(request_ids)
        rows = self.query(
            "SELECT request_id, state, tier, institution_id, last_sequence, escalation_count "
            "FROM service_request"
        )
        return {r.request_id: r for r in rows if r.request_id in wanted}

    def wait_states(
        self,
        request_ids: Iterable[str],
        done: Callable[[Any], bool],
        timeout: float,
        what: str,
    ) -> dict[str, Any]:
        """Poll the read model until ``done(row)`` holds for every request."""
        ids = set(request_ids)
        last: dict[str, Any] = {}

        def check() -> bool:
            nonlocal last
            last = self.states(ids)
            return len(last) == len(ids) and all(done(row) for row in last.values())

        def pending() -> str:
            waiting = sorted(r for r in ids if r not in last or not done(last[r]))
            shown = [(r, last[r].state if r in last else None) for r in waiting[:10]]
            return f"{len(waiting)} of {len(ids)} not done: {shown}"

        # a read that meets the worker's write lock is "not yet", as a reader would retry
        eventually_sync(check, timeout, what, detail=pending, ignoring=(OperationalError,))
        return last

    @contextmanager
    def database_locked(self, seconds: float) -> Any:
        """Hold SQLite's exclusive lock from another connection for ``seconds`` (background)."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def hold() -> None:
            try:
                conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
                try:
                    conn.execute("BEGIN EXCLUSIVE")
                    ready.set()
                    time.sleep(seconds)  # the scenario: hold the lock this long
                    conn.execute("ROLLBACK")
                finally:
                    conn.close()
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                errors.append(exc)
                ready.set()

        thread = threading.Thread(target=hold, name="chaos-db-lock", daemon=True)
        thread.start()
        ready.wait(timeout=40)
        if errors:
            raise errors[0]
        try:
            yield thread
        finally:
            thread.join(timeout=seconds + 30)

    # ------------------------------------------------------------------ ingress metrics
    def ingress_metrics(self) -> dict[str, float]:
        """Ingress counters from its /metrics: commands by outcome, dead letters, retries."""
        body = httpx.get(f"{self.ingress.url}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(body):
            for s in family.samples:
                if s.name == "tierflow_ingress_commands_total":
                    key = f"commands.{s.labels['outcome']}"
                    out[key] = out.get(key, 0.0) + s.value
                elif s.name == "tierflow_ingress_dead_letters_total":
                    key = f"dlq.{s.labels['reason']}"
                    out[key] = out.get(key, 0.0) + s.value
                elif s.name == "tierflow_ingress_retries_total":
                    out["retries"] = s.value
        out["commands.total"] = sum(v for k, v in out.items() if k.startswith("commands."))
        return out

    def ingress_lag(self) -> dict[str, float]:
        """Consumer lag per commands partition, as the ingress reports it."""
        body = httpx.get(f"{self.ingress.url}/metrics", timeout=5).text
        return {
            s.labels["partition"]: s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
            if s.name == "tierflow_ingress_consumer_lag"
        }

    def ingress_healthy(self) -> bool:
        return http_ok(self.ingress.health_url, timeout=3)

    def log_lines(self, name: str, needle: str) -> int:
        """Count lines of a process log containing ``needle``."""
        path = self.local.apps[name].process.log_path
        if not path.exists():
            return 0
        with path.open(errors="replace") as fh:
            return sum(1 for line in fh if needle in line)


@dataclass(frozen=True)
class Message:
    """One commands-topic message as sent (value may be anything, even not JSON)."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    expect: str = "applied"  # applied | dead_lettered:<reason> | any
    event_id: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Sent:
    message: Message
    partition: int
    offset: int
