"""The cluster topology under faults: kill, restart, and check nothing is lost or doubled.

The module brings the cluster of ``tierflow dev up --topology cluster`` up once
(:class:`ClusterStack`: PostgreSQL, the Temporal server on it with 4 history shards, three
KRaft brokers at replication 3 / min ISR 2, two workers, two ingresses, two API replicas, two
notifiers), its workers on a round-the-clock policy whose urgent response target is seconds.
Each test is one fault under a steady load (submit commands through Kafka and requests
through both API replicas, :data:`RATE` a second):

1. a worker killed with SIGKILL, restarted once the service has recovered;
2. an ingress killed with SIGKILL, restarted likewise;
3. an API replica killed: the load's client moves to the other replica; restarted;
4. PostgreSQL stopped, down :data:`OUTAGE` seconds, started (it holds Temporal's two
   databases and tierflow's read model: both go away together);
5. the Temporal server stopped, down :data:`OUTAGE` seconds, started;
6. the broker leading a commands partition killed with ``kill -9``, restarted on its data
   once the service has recovered, until it is back in every in-sync replica set;
7. broker :data:`ISOLATED`, on a host of its own (a network namespace, ``tests/chaos/netns``),
   cut off from the other brokers and every client by taking its link down, healed once the
   service has recovered, until it is back in every in-sync replica set (the test needs root
   and iproute2 to make the namespace; it fails, not skips, without them).

Recovery is measured from the fault until a command sent after it has been applied on every
path: each commands partition and the API. After each fault an oracle that reads Kafka, the
read model and Temporal directly (not tierflow's code) checks, for every command accepted so
far in the module: applied or dead-lettered, never both; the audit trail whole (sequences
without gaps, one row per event id) and every event on the events topic once, no other; no
event id twice in the read model; as many
requests in the read model as Temporal's visibility counts; and the urgent requests sent
just before the fault breach their response target once, none before the deadline and none
later than :data:`SLA_BOUND` seconds after the deadline or the recovery, whichever is later.

A worker's clock is not skewed: docs/reliability.md ("Cluster topology") says why timers do
not depend on it.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine, bindparam, text
from temporalio.client import Client
from temporalio.service import RPCError

from schemas.domain import Priority, Tier
from schemas.lifecycle import WORKFLOW_TYPE
from tests.chaos import netns
from tests.chaos.audit import check_audit, record_figures
from tests.chaos.commands import new_request, submit
from tests.chaos.harness import SOURCE, ChaosStack
from tests.chaos.netns import BrokerHost
from tests.utils.api_helpers import make_users, request_body
from tests.utils.eventually import eventually_sync
from tests.utils.fast_policy import Targets, write_policy
from tests.utils.system_clients import write_trusted_clients
from tierflow import constants
from tierflow.auth_store import issue_token
from tierflow.db.engine import make_engine
from tierflow.kafka_io import REQUEST_TIMEOUT_MS, make_producer
from tierflow.settings import Settings
from tierflow_dev.devstack.cluster_stack import ClusterStack, cluster_settings
from tierflow_dev.devstack.kafka_cluster import KafkaCluster
from tierflow_dev.devstack.temporal import run_async

# Each test's timeout; the first includes bringing the cluster up, and the first module on a
# machine to need the Temporal server builds it (8-25 min; build_binary gives up at 30 min).
pytestmark = [pytest.mark.go_build, pytest.mark.postgres, pytest.mark.timeout(2400)]

V1 = "/api/v1"
RATE = 5.0  # commands a second: KAFKA_SHARE of them through Kafka, the rest through the APIs
KAFKA_SHARE = 3  # of every 5 commands; 2 go through the APIs, one per replica
WARMUP = 15  # commands accepted before the fault
AFTER = 10  # commands accepted after the killed member is back, before the load stops
URGENT = 2  # urgent requests sent just before each fault: their response timers must fire
# seconds: the urgent response target (business = wall-clock seconds); the urgent requests are
# sent when the load starts, a few seconds before the fault, so their deadlines fall in the
# outages below
URGENT_RESPONSE = 10.0
OUTAGE = 8.0  # seconds PostgreSQL and the Temporal server stay down between stop and start
ISOLATED = 3  # the broker on a host of its own, whose link the partition cuts
ISR_TIMEOUT = 180.0  # seconds for the healed broker to be back in every in-sync replica set
SLA_BOUND = 30.0  # a breach fires at most this long after max(deadline, recovery)
RECOVERY_TIMEOUT = 180.0
# A cut-off broker is fenced after broker.session.timeout.ms (Kafka's default 9 s); a client
# with a request in flight to it gives up after its request timeout, and may meet it once
# more before its metadata names the new leaders.
FENCE_SECONDS = 9.0
CUT_OFF_RECOVERY_BOUND = FENCE_SECONDS + 2 * REQUEST_TIMEOUT_MS / 1000 + 5.0
SETTLE_TIMEOUT = 180.0
QUIET = 4 * 3600.0  # every other target: no other timer fires during the run
TARGETS = Targets(
    response=QUIET,
    resolution=2 * QUIET,
    by_priority={Priority.URGENT: (URGENT_RESPONSE, 2 * QUIET)},
    # the municipal tier an urgent request escalates to (and those above) stays quiet
    tier_factors=dict.fromkeys((Tier.MUNICIPAL, Tier.PROVINCIAL, Tier.NATIONAL), (100, 100)),
    reopen_window=QUIET,
)
API = "api"  # the path name of the API in the recovery measure (either replica)


# ----------------------------------------------------------------------------- the oracle
class ClusterReader(ChaosStack):
    """The chaos suite's readers (read model rows, whole Kafka topics) on the cluster."""

    def __init__(self, bootstrap: str, engine: Engine) -> None:
        self._bootstrap = bootstrap
        self.engine = engine
        self._producer = None

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    def __repr__(self) -> str:
        return f"ClusterReader({self._bootstrap})"

    def count(self, sql: str) -> int:
        return int(self.query(sql)[0][0])


async def _visibility_count(client_of: Callable[[], Any]) -> int:
    client: Client = await client_of()
    found = await client.count_workflows(f'WorkflowType="{WORKFLOW_TYPE}"')
    return int(found.count)


async def _started_at(client_of: Callable[[], Any], request_ids: list[str]) -> dict[str, datetime]:
    client: Client = await client_of()
    out = {}
    for rid in request_ids:
        described = await client.get_workflow_handle(constants.workflow_id(rid)).describe()
        out[rid] = described.start_time
    return out


@dataclass
class Applied:
    """Watches the read model on a thread of its own: when each request first appears."""

    engine: Engine
    seen: dict[str, float] = field(default_factory=dict)  # request id -> monotonic time
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(text("SELECT request_id FROM service_request"))
                    ids = [row[0] for row in rows]
            except Exception:  # noqa: BLE001 - the database restarts in one of the faults
                self.errors += 1
                ids = []
            now = time.monotonic()
            with self.lock:
                for rid in ids:
                    self.seen.setdefault(rid, now)
            self.stop.wait(0.25)  # pacing of the watch (a probe every quarter second)

    def at(self, rid: str) -> float | None:
        with self.lock:
            return self.seen.get(rid)


# ----------------------------------------------------------------------------- the load
@dataclass
class Load:
    """A steady stream of new requests: through Kafka (acks=all) and through both APIs.

    An API request that a replica does not take (refused connection, 5xx, 429) is sent to the
    other replica with the same request id (a submit is idempotent by id); one neither takes
    is refused, not accepted. ``accepted`` holds what Kafka acknowledged or an API answered
    202 to, with the path it took and when it was sent.
    """

    bootstrap: str
    api_urls: list[str]
    tokens: list[str]
    prefix: str
    rate: float = RATE
    accepted: dict[str, tuple[str, float]] = field(default_factory=dict)  # -> (path, sent)
    refused: dict[str, str] = field(default_factory=dict)
    failovers: int = 0
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"load-{self.prefix}", daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the load did not finish"
        assert not self.errors, f"the load failed: {self.errors!r}"

    def run(self) -> None:
        try:
            producer = make_producer(self.bootstrap, client_id=f"cluster-load-{self.prefix}")
            http = httpx.Client(timeout=15)
            pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="api-load")
            try:
                start = time.monotonic()
                i = 0
                while not self.stop.is_set():
                    # pacing: the load's own shape, a command every 1/rate seconds
                    time.sleep(max(0.0, start + i / self.rate - time.monotonic()))
                    req = new_request(self.prefix)
                    slot = i % 5
                    sent = time.monotonic()
                    if slot < KAFKA_SHARE:
                        message = submit(req)
                        future = producer.send(
                            constants.COMMANDS_TOPIC,
                            key=message.key,
                            value=message.value,
                            headers=message.headers,
                        )
                        rid = req.request_id
                        future.add_callback(self._acked, rid, sent)
                        future.add_errback(self._failed, rid)
                    else:
                        pool.submit(self._api, http, req, slot % 2, i, sent)
                    i += 1
                producer.flush(timeout=120)
                pool.shutdown(wait=True)
            finally:
                producer.close(timeout=10)
                http.close()
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.errors.append(exc)

    def _acked(self, rid: str, sent: float, meta: Any) -> None:
        with self.lock:
            self.accepted[rid] = (f"kafka-p{meta.partition}", sent)

    def _failed(self, rid: str, exc: BaseException) -> None:
        with self.lock:
            self.refused[rid] = repr(exc)

    def _api(self, http: httpx.Client, req: Any, first: int, i: int, sent: float) -> None:
        said = ""
        token = self.tokens[i % len(self.tokens)]
        for attempt, replica in enumerate((first, 1 - first)):
            try:
                response = http.post(
                    f"{self.api_urls[replica]}{V1}/requests",
                    json=request_body(req),
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                said = repr(exc)
                continue
            if response.status_code == 202:
                with self.lock:
                    self.accepted[req.request_id] = (API, sent)
                    self.failovers += attempt
                return
            said = f"{response.status_code} {response.text[:200]}"
        with self.lock:
            self.refused[req.request_id] = said

    def snapshot(self) -> dict[str, tuple[str, float]]:
        with self.lock:
            return dict(self.accepted)


# ----------------------------------------------------------------------------- the cluster
class NetnsClusterStack(ClusterStack):
    """The cluster with broker :data:`ISOLATED` on a host of its own (a network namespace),
    the other brokers on an address of the root namespace that host can reach."""

    def __init__(self, settings: Settings, host: BrokerHost) -> None:
        super().__init__(settings, echo=print)
        self.broker_host = host

    @cached_property
    def kafka(self) -> KafkaCluster:
        host = self.broker_host
        hosts = dict.fromkeys(range(1, len(self.ports.kafka) + 1), host.peers_addr)
        hosts[ISOLATED] = host.ns_addr
        return KafkaCluster(
            self.home,
            self.ports.kafka,
            heap=self.settings.kafka_heap,
            hosts=hosts,
            netns={ISOLATED: host.name},
        )


@dataclass
class Cluster:
    stack: ClusterStack
    reader: ClusterReader
    applied: Applied
    tokens: list[str]
    broker_host: BrokerHost | None = None  # None: namespaces cannot be made here
    # every command accepted in the module -> "<fault> <path>" it was accepted under
    accepted: dict[str, str] = field(default_factory=dict)
    urgent: set[str] = field(default_factory=set)
    figures: list[dict[str, Any]] = field(default_factory=list)

    async def client(self) -> Client:
        return await self.stack.temporal.connect()


def _settings(home: Path) -> Settings:
    return cluster_settings(
        home,
        policy_file=write_policy(home / "policy.toml", TARGETS),
        system_clients_file=write_trusted_clients(home / "system_clients.toml", SOURCE),
    )


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    # Not under pytest's tmp folder: PostgreSQL runs as the postgres user when tests run as
    # root, and that folder is private to root.
    home = Path(tempfile.mkdtemp(prefix="tierflow-cluster-faults-"))
    home.chmod(0o755)
    failed_before = request.session.testsfailed
    host: BrokerHost | None = None
    if (why := netns.available()) is None:
        host = BrokerHost.create()
        stack: ClusterStack = NetnsClusterStack(_settings(home), host)
    else:
        print(f"\nevery broker on 127.0.0.1 ({why}): no network partition")
        stack = ClusterStack(_settings(home), echo=print)
    engine: Engine | None = None
    applied: Applied | None = None
    try:
        stack.up(timeout=180)
        engine = make_engine(stack.database_url)
        users = make_users(engine)
        admin = users.ids["admin"]
        tokens = [users.tokens["admin"], *(issue_token(engine, admin) for _ in range(3))]
        applied = Applied(engine)
        threading.Thread(target=applied.run, name="read-model-watch", daemon=True).start()
        reader = ClusterReader(stack.kafka.bootstrap, engine)
        yield Cluster(stack, reader, applied, tokens, host)
    finally:
        if applied is not None:
            applied.stop.set()
        if engine is not None:
            engine.dispose()
        try:
            stack.down(timeout=10)
        finally:
            if host is not None:  # the namespace, link and addresses go even if a member stuck
                host.delete()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"\ncluster home kept for its logs: {home}")


# ----------------------------------------------------------------------------- one fault
def _send_urgent(cluster: Cluster, prefix: str) -> list[str]:
    producer = make_producer(cluster.stack.kafka.bootstrap, client_id=f"urgent-{prefix}")
    try:
        requests = [new_request(f"{prefix}u", Priority.URGENT) for _ in range(URGENT)]
        for req in requests:
            message = submit(req)
            producer.send(
                constants.COMMANDS_TOPIC,
                key=message.key,
                value=message.value,
                headers=message.headers,
            ).get(timeout=60)
    finally:
        producer.close(timeout=10)
    return [r.request_id for r in requests]


def _paths(cluster: Cluster) -> set[str]:
    partitions = constants.TOPICS[constants.COMMANDS_TOPIC]
    return {f"kafka-p{p}" for p in range(partitions)} | {API}


def run_fault(
    cluster: Cluster,
    name: str,
    inject: Callable[[], None],
    restore: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the load, inject the fault, measure recovery, restore, then check the invariants."""
    stack, applied = cluster.stack, cluster.applied
    load = Load(stack.kafka.bootstrap, stack.api_urls, cluster.tokens, prefix=name[:6])
    load.start()
    urgent = _send_urgent(cluster, name[:6])
    cluster.urgent.update(urgent)
    eventually_sync(
        lambda: len(load.snapshot()) >= WARMUP, 60, f"{WARMUP} commands accepted before {name}"
    )
    fault_at = time.monotonic()
    fault_wall = datetime.now(UTC)
    inject()
    fault_over = time.monotonic()
    paths = _paths(cluster)
    first: dict[str, float] = {}

    def every_path_serves() -> bool:
        for rid, (path, sent) in load.snapshot().items():
            seen = applied.at(rid)
            if sent > fault_at and seen is not None:
                first[path] = min(first.get(path, seen), seen)
        return paths <= set(first)

    eventually_sync(
        every_path_serves,
        RECOVERY_TIMEOUT,
        f"after {name}: a command sent after the fault applied on every path",
        detail=lambda: f"paths not yet serving: {sorted(paths - set(first))}",
        max_interval=0.25,
    )
    recovered_at = max(first.values())
    recovered_wall = datetime.now(UTC) - timedelta(seconds=time.monotonic() - recovered_at)
    back_at = recovered_at
    if restore is not None:
        restore()
        back_at = time.monotonic()
    count_at_back = len(load.snapshot())
    eventually_sync(
        lambda: len(load.snapshot()) >= count_at_back + AFTER,
        60,
        f"{AFTER} more commands accepted after {name}",
    )
    load.finish()
    accepted = load.snapshot()
    cluster.accepted.update({rid: f"{name} {path}" for rid, (path, _) in accepted.items()})
    cluster.accepted.update(dict.fromkeys(urgent, f"{name} urgent"))

    checked = check_invariants(cluster)
    sla = check_sla(cluster, urgent, fault_wall, recovered_wall)
    latencies = {
        rid: seen - sent
        for rid, (_, sent) in accepted.items()
        if (seen := applied.at(rid)) is not None
    }
    before = [v for rid, v in latencies.items() if accepted[rid][1] < fault_at]
    figures = {
        "fault": name,
        "rate_per_second": RATE,
        "accepted": len(accepted),
        "accepted_kafka": sum(1 for p, _ in accepted.values() if p != API),
        "accepted_api": sum(1 for p, _ in accepted.values() if p == API),
        "refused": len(load.refused),
        "api_failovers": load.failovers,
        "fault_s": round(fault_over - fault_at, 2),
        "recovery_s": round(recovered_at - fault_at, 2),
        "restore_s": round(back_at - recovered_at, 2) if restore is not None else None,
        "latency_median_before_s": round(statistics.median(before), 2) if before else None,
        "latency_max_s": round(max(latencies.values()), 2),
        "sla_breaches": len(urgent),
        **sla,
        **checked,
    }
    cluster.figures.append(figures)
    record_figures(f"cluster_{name}", figures)
    return figures


def check_invariants(cluster: Cluster) -> dict[str, Any]:
    """Every accepted command applied or dead-lettered; no doubles; the counts agree."""
    reader, accepted = cluster.reader, set(cluster.accepted)
    dead: set[str] = set()
    present: set[str] = set()

    def settled() -> bool:
        nonlocal dead, present
        present = set(reader.states(accepted))
        if present != accepted:
            records = reader.read_topic(constants.DEAD_LETTER_TOPIC)
            dead = {r.key.decode() for r in records if r.key}
        return accepted <= present | dead

    eventually_sync(
        settled,
        SETTLE_TIMEOUT,
        "every accepted command applied or dead-lettered",
        detail=lambda: _neither(cluster, accepted - present - dead),
        max_interval=1.0,
    )
    assert not present & dead, f"applied and dead-lettered: {sorted(present & dead)[:5]}"
    report = check_audit(reader, present)
    doubled = reader.query(
        "SELECT event_id FROM transition GROUP BY event_id HAVING count(*) > 1 LIMIT 5"
    )
    assert not doubled, f"event ids twice in the read model: {doubled}"
    counts: dict[str, int] = {}

    def counts_agree() -> bool:
        counts["read_model"] = reader.count("SELECT count(*) FROM service_request")
        counts["visibility"] = run_async(_visibility_count(cluster.client))
        return counts["read_model"] == counts["visibility"]

    eventually_sync(
        counts_agree,
        60,
        "the read model's request count equal to Temporal's visibility count",
        detail=lambda: counts,
        max_interval=1.0,
    )
    return {
        "lost": len(accepted - present - dead),
        "dead_lettered": len(dead & accepted),
        "copies_on_events_topic": report.kafka_duplicates,
        "events_on_topic": report.kafka_unique,
        "duplicated_events_read_model": len(doubled),
        "requests_read_model": counts["read_model"],
        "requests_visibility": counts["visibility"],
    }


def _neither(cluster: Cluster, missing: set[str]) -> str:
    """Say how many accepted commands are neither applied nor dead-lettered, where they came
    from, and what Temporal, the ingress group and the members' logs say of a few of them."""
    where = Counter(cluster.accepted[rid] for rid in missing)
    sample = sorted(missing)[:3]
    said = [f"{len(missing)} of {len(cluster.accepted)} neither: {dict(where)}"]
    for what, find in (
        ("workflows", lambda: run_async(_describe(cluster.client, sample))),
        ("ingress group lag", lambda: _group_lag(cluster.stack.kafka.bootstrap)),
        ("last log lines", lambda: _log_lines(cluster.stack, sample)),
    ):
        try:
            said.append(f"{what}: {find()}")
        except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure
            said.append(f"{what}: unknown ({exc!r})")
    return "; ".join(said)


async def _describe(client_of: Callable[[], Any], request_ids: list[str]) -> dict[str, str]:
    client: Client = await client_of()
    found = {}
    for rid in request_ids:
        try:
            desc = await client.get_workflow_handle(constants.workflow_id(rid)).describe()
            status = desc.status.name if desc.status is not None else "?"
            found[rid] = f"{status} {desc.history_length} events"
        except RPCError as exc:  # not found, or the server unreachable
            found[rid] = exc.status.name
    return found


def _group_lag(bootstrap: str) -> dict[int, int | None]:
    """Records after the ingress group's committed offset, per commands partition."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=constants.INGRESS_GROUP, enable_auto_commit=False
    )
    try:
        partitions = [
            TopicPartition(constants.COMMANDS_TOPIC, p)
            for p in range(constants.TOPICS[constants.COMMANDS_TOPIC])
        ]
        ends = consumer.end_offsets(partitions)
        lag: dict[int, int | None] = {}
        for tp in partitions:
            committed = consumer.committed(tp)
            lag[tp.partition] = None if committed is None else ends[tp] - committed
        return lag
    finally:
        consumer.close()


def _log_lines(stack: ClusterStack, request_ids: list[str]) -> dict[str, str]:
    """The last line naming each request in the members' logs."""
    last = dict.fromkeys(request_ids, "none")
    for name, member in stack.members.items():
        path = member.process.log_path
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            for rid in request_ids:
                if rid in line:
                    last[rid] = f"{name}: {line[-240:]}"
    return last


def check_sla(
    cluster: Cluster, urgent: list[str], fault: datetime, recovered: datetime
) -> dict[str, float]:
    """Each urgent request's response breach fired once, not before its deadline, and not
    later than SLA_BOUND after max(deadline, recovery).

    Return, in seconds over the urgent requests, the latest breach after its earliest
    possible deadline (workflow start + target: the clock starts at admission, a little
    later), the least margin left to the bound, and how many deadlines fell between the
    fault and the recovery."""
    reader = cluster.reader
    target = timedelta(seconds=URGENT_RESPONSE)
    rows: dict[str, Any] = {}

    def escalated() -> bool:
        for row in reader.transitions(urgent):
            if str(row.event_type) == "escalated" and row.request_id not in rows:
                rows[row.request_id] = row
        return set(rows) == set(urgent)

    eventually_sync(
        escalated,
        URGENT_RESPONSE + SLA_BOUND + RECOVERY_TIMEOUT,
        f"the response breach of {urgent}",
        detail=lambda: sorted(set(urgent) - set(rows)),
        max_interval=0.5,
    )
    started = run_async(_started_at(cluster.client, urgent))
    escalations = _escalations(reader.engine, urgent)
    assert {rid: len(times) for rid, times in escalations.items()} == dict.fromkeys(urgent, 1)
    recorded = {rid: times[0] for rid, times in escalations.items()}
    after: list[float] = []
    margin: list[float] = []
    during = 0
    for rid in urgent:
        row = rows[rid]
        assert row.reason == "sla_breach:response", (rid, row.reason)
        assert str(row.to_tier) == "municipal", (rid, row.to_tier)
        earliest = started[rid] + target  # the clock starts at admission, after the start
        assert _utc(row.occurred_at) >= earliest, f"{rid}: breach at {row.occurred_at} early"
        assert recorded[rid] >= earliest, f"{rid}: breach recorded {recorded[rid]} early"
        seen = cluster.applied.at(rid)
        assert seen is not None
        seen_wall = datetime.now(UTC) - timedelta(seconds=time.monotonic() - seen)
        latest_deadline = seen_wall + target  # admitted no later than the watch saw it
        late = (recorded[rid] - max(latest_deadline, recovered)).total_seconds()
        assert late <= SLA_BOUND, f"{rid}: breach {late:.1f} s after deadline and recovery"
        after.append((recorded[rid] - earliest).total_seconds())
        margin.append(SLA_BOUND - late)
        during += fault <= earliest <= recovered
    return {
        "sla_fired_after_deadline_s": round(max(after), 2),
        "sla_bound_margin_s": round(min(margin), 2),
        "sla_deadlines_in_fault": during,
    }


def _escalations(engine: Engine, request_ids: list[str]) -> dict[str, list[datetime]]:
    """When each escalation of these requests was written to the read model."""
    query = text(
        "SELECT request_id, recorded_at FROM transition "
        "WHERE event_type = 'escalated' AND request_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    out: dict[str, list[datetime]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query, {"ids": request_ids}):
            out.setdefault(row.request_id, []).append(_utc(row.recorded_at))
    return out


def _utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- the faults
def _kill(cluster: Cluster, member: str) -> Callable[[], None]:
    def inject() -> None:
        process = cluster.stack.members[member].process
        assert process.pid() is not None, f"{member} is not running"
        process.kill()  # SIGKILL to its process group; returns once it is gone
        assert not process.is_running()

    return inject


def _restart_members(cluster: Cluster) -> Callable[[], None]:
    def restore() -> None:
        cluster.stack.start_members(timeout=120)  # the killed one: not healthy, so started

    return restore


def test_worker_killed_with_sigkill(cluster: Cluster) -> None:
    figures = run_fault(cluster, "worker", _kill(cluster, "worker-1"), _restart_members(cluster))
    assert figures["lost"] == 0
    assert cluster.stack.members["worker-1"].healthy()


def test_ingress_killed_with_sigkill(cluster: Cluster) -> None:
    figures = run_fault(cluster, "ingress", _kill(cluster, "ingress-1"), _restart_members(cluster))
    assert figures["lost"] == 0
    assert cluster.stack.members["ingress-1"].healthy()


def test_api_replica_killed_the_load_moves_to_the_other(cluster: Cluster) -> None:
    figures = run_fault(cluster, "api", _kill(cluster, "api-1"), _restart_members(cluster))
    assert figures["lost"] == 0
    assert figures["api_failovers"] > 0, "no API request moved to the other replica"
    assert cluster.stack.members["api-1"].healthy()


def test_postgres_restarted(cluster: Cluster) -> None:
    """PostgreSQL holds Temporal's databases and the read model: both go away together."""
    postgres = cluster.stack.postgres

    def inject() -> None:
        assert postgres.stop()
        time.sleep(OUTAGE)  # the outage itself: the server stays down this long
        postgres.start(timeout=120)

    figures = run_fault(cluster, "postgres", inject)
    assert figures["lost"] == 0
    assert all(row.healthy for row in cluster.stack.status())


def test_temporal_server_restarted(cluster: Cluster) -> None:
    temporal = cluster.stack.temporal

    def inject() -> None:
        assert temporal.stop()
        time.sleep(OUTAGE)  # the outage itself: the server stays down this long
        temporal.start(timeout=120)

    figures = run_fault(cluster, "temporal", inject)
    assert figures["lost"] == 0
    assert all(row.healthy for row in cluster.stack.status())


def test_partition_leader_broker_killed_then_restarted(cluster: Cluster) -> None:
    """The broker leading a commands partition is killed with ``kill -9``: the others elect new
    leaders from the in-sync replicas; restarted on its data, it is back in every ISR."""
    kafka = cluster.stack.kafka
    commands = kafka.partitions(constants.COMMANDS_TOPIC)
    # a broker on the host's own network (the cut-off test's broker lives in a namespace)
    victim = next(s.leader for _, s in sorted(commands.items()) if s.leader != ISOLATED)
    led: list[int] = []
    rejoined: dict[str, float] = {}

    def kill() -> None:
        now = kafka.partitions(constants.COMMANDS_TOPIC)
        led.extend(sorted(p for p, s in now.items() if s.leader == victim))
        kafka.kill(victim)

    def restart() -> None:
        kafka.restart(victim, timeout=120)
        rejoined["s"] = _seconds_until_in_every_isr(kafka, victim)

    figures = run_fault(cluster, "leader", kill, restart)
    record_figures(
        "cluster_leader_detail",
        {"broker": victim, "partitions_it_led": led, "back_in_every_isr_s": rejoined["s"]},
    )
    assert figures["lost"] == 0
    assert kafka.nodes[victim].is_running()


def _seconds_until_in_every_isr(kafka: KafkaCluster, node_id: int) -> float:
    """Wait until broker ``node_id`` is in every tierflow partition's ISR; return how long."""
    began = time.monotonic()
    eventually_sync(
        lambda: all(
            node_id in state.isr
            for topic in constants.TOPICS
            for state in kafka.partitions(topic).values()
        ),
        ISR_TIMEOUT,
        f"broker {node_id} back in every in-sync replica set",
        ignoring=(OSError, KafkaError),
        max_interval=1.0,
    )
    return round(time.monotonic() - began, 2)


def test_broker_cut_off_by_its_link_then_healed(cluster: Cluster) -> None:
    """The broker's only link is cut: the others fence it and take over its leaderships;
    healed, it catches up and is back in every in-sync replica set."""
    host = cluster.broker_host
    assert host is not None, "network namespaces could not be made (root and iproute2 needed)"
    kafka = cluster.stack.kafka
    led: dict[str, list[int]] = {}

    def cut() -> None:
        commands = kafka.partitions(constants.COMMANDS_TOPIC)
        led["commands"] = sorted(p for p, s in commands.items() if s.leader == ISOLATED)
        host.cut()

    rejoined: dict[str, float] = {}

    def heal() -> None:
        host.heal()
        rejoined["s"] = _seconds_until_in_every_isr(kafka, ISOLATED)

    figures = run_fault(cluster, "partition", cut, heal)
    record_figures(
        "cluster_partition_detail",
        {"partitions_it_led": led["commands"], "back_in_every_isr_s": rejoined["s"]},
    )
    assert figures["lost"] == 0
    assert kafka.nodes[ISOLATED].is_running(), "the cut-off broker died"
    # clients give up on the cut-off broker after their request timeout, not kafka-python's 30 s
    assert figures["recovery_s"] <= CUT_OFF_RECOVERY_BOUND, figures
