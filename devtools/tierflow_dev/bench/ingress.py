"""Scenario ``ingress``: Kafka command -> workflow started, through ``tierflow ingress``.

Submit commands are produced at a fixed offered load and then as one burst (saturation), each
side after a short untimed warm-up (group join, first connections).
Latency is the workflow's start time on the server minus the wall clock just before the
produce call. The ingress runs as deployed, a process of its own (run-specific topics and
group through its settings), followed through its /metrics. The bare baseline consumes the
same messages from its own topic with a plain poll -> ``start_workflow`` (all records of a
batch at once) -> commit loop (``tierflow_dev.bench.bare_consumer``, a process of its own too)
that starts the same request workflow, without the ingress's validation, ordering, retries
and dead-lettering: the ratio is what the ingress itself costs. Neither consumer shares the
bench producer's interpreter lock. Both run workflows on one ``tierflow worker`` process, as
deployed.
A third baseline starts the same workflows at the same rate straight from the client (no Kafka):
the latency floor the server sets. A fourth takes only Kafka's hop: the same messages at the
same rate to a consumer process that notes when its poll returned each one and starts nothing.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.events import SUBMIT, command_event
from tierflow.constants import workflow_id
from tierflow.kafka_io import make_producer
from tierflow_dev.bench.common import (
    BenchStack,
    bench_requests,
    connect,
    console,
    ensure_topics,
    gather_limited,
    paced,
    progress,
    run_id,
    start_request,
    start_tierflow_process,
    start_worker_process,
    summarize,
    target,
)

PARTITIONS = 6
TARGET_P99_S = 0.1  # at the fixed offered load
TARGET_RATIO = 0.8  # saturation throughput, ingress / bare loop
WARMUP = 20  # untimed messages first: the consumer joins its group and connects
SOURCE = "/tierflow/bench"
# the bench's producer as a system client: submits only, at any rate the bench sends
BENCH_CLIENTS = f"""
[[client]]
id = "tierflow-bench"
name = "tierflow bench"
sources = ["{SOURCE}"]
grants = ["submit"]
rate_per_second = 1000000
burst = 1000000
"""


@dataclass
class IngressParams:
    rate: float = 50.0
    seconds: float = 30.0
    burst: int = 1000


# tierflow bench ingress --quick: seconds, for CI
QUICK = IngressParams(seconds=2.0, burst=40)


async def produce(
    producer: Any, topic: str, payloads: list[tuple[str, bytes]], rate: float
) -> dict[str, float]:
    """Send (key, value) pairs at ``rate`` per second (0: as fast as possible)."""
    sent: dict[str, float] = {}
    began = time.monotonic()
    for i, (key, value) in enumerate(payloads):
        if rate > 0:
            wait = began + i / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        sent[key] = time.time()
        producer.send(topic, key=key.encode(), value=value)
    await asyncio.to_thread(producer.flush, 30)
    return sent


def submit_payloads(prefix: str, n: int) -> list[tuple[str, bytes]]:
    out = []
    for req in bench_requests(n, prefix):
        event = command_event(SUBMIT, req.model_dump(mode="json"), SOURCE, subject=req.request_id)
        out.append((req.request_id, event.to_json_bytes()))
    return out


async def start_times(client: Any, ids: list[str]) -> dict[str, float]:
    """Return each workflow's start time (server clock, epoch seconds)."""

    async def one(wid: str) -> tuple[str, float]:
        desc = await client.get_workflow_handle(wid).describe()
        return wid, desc.start_time.timestamp()

    found = await gather_limited((one(w) for w in ids), 20, return_exceptions=True)
    return dict(f for f in found if isinstance(f, tuple))


class ConsumerStopped(RuntimeError):
    """The consumer under test ended while a phase still waited for it."""


async def _wait_count(
    probe: Any, count: int, stall: float, what: str, consumer: asyncio.Task[Any]
) -> int:
    """Wait until ``probe()`` reaches ``count`` or stops moving for ``stall`` s; return it.

    Raises at once if ``consumer`` (the loop that moves ``probe``) ends: its error, not a
    stall minutes later, is what the run has to report.
    """
    done, moved = 0, time.monotonic()
    with progress(count, what) as advance:
        while done < count and time.monotonic() - moved < stall:
            if consumer.done():
                consumer.result()  # re-raises the consumer's own error
                raise ConsumerStopped(f"{what}: the consumer stopped at {done} of {count}")
            now = probe()
            if now > done:
                advance(now - done)
                done, moved = now, time.monotonic()
            await asyncio.sleep(0.2)
    if done < count:
        console.log(f"{what}: stalled at {done} of {count} for {stall:.0f} s")
    return done


async def direct_starts(
    client: Any, task_queue: str, prefix: str, n: int, rate: float
) -> dict[str, Any]:
    """Start request workflows straight from the client at ``rate``: no Kafka at all.

    The floor under both consumers: what one start costs on this server while the worker
    runs the workflows already started.
    """

    sent: dict[str, float] = {}
    calls: list[float] = []

    async def one(req: Any) -> None:
        sent[req.request_id] = time.time()
        await start_request(client, req, task_queue)
        calls.append(time.time() - sent[req.request_id])

    await paced((one(r) for r in bench_requests(n, prefix)), rate)
    started = await start_times(client, [workflow_id(k) for k in sent])
    return {
        "latency_s": summarize(_latencies(sent, started, workflow_id)),
        # until the server answered: its start time is set before the start is stored
        "call_s": summarize(calls),
        "started": len(started),
        "messages": n,
    }


def _latencies(sent: dict[str, float], started: dict[str, float], wid: Any) -> list[float]:
    return [started[wid(k)] - t for k, t in sent.items() if wid(k) in started]


async def _phase(
    client: Any,
    producer: Any,
    topic: str,
    payloads: list[tuple[str, bytes]],
    rate: float,
    count_now: Any,
    wid: Any,
    consumer: asyncio.Task[Any],
) -> dict[str, Any]:
    before = count_now()
    sent = await produce(producer, topic, payloads, rate)
    await _wait_count(
        lambda: count_now() - before,
        len(payloads),
        120 + len(payloads) / 5,
        f"started ({topic})",
        consumer,
    )
    started = await start_times(client, [wid(k) for k in sent])
    lat = _latencies(sent, started, wid)
    span = max(started.values()) - min(sent.values()) if started else 0.0
    return {
        "latency_s": summarize(lat),
        "started": len(started),
        "not_started": len(payloads) - len(started),
        "throughput_per_s": len(started) / span if span > 0 else 0.0,
        "messages": len(payloads),
    }


@dataclass
class _Load:
    """What every phase of one run shares: the client, the producer, the run id, the sizes."""

    client: Any
    producer: Any
    rid: str
    params: IngressParams
    fixed_n: int

    async def through(
        self, consumer: FollowedProcess, topic: str, side: str, wid: Any
    ) -> dict[str, Any]:
        """Untimed warm-up, then the fixed offered load, then the burst, through one consumer
        process, followed meanwhile and stopped after."""
        stop = asyncio.Event()
        task = asyncio.create_task(follow(consumer, stop))
        results = {}
        try:
            for phase, n, rate in (
                ("warmup", WARMUP, self.params.rate),
                ("fixed", self.fixed_n, self.params.rate),
                ("saturation", self.params.burst, 0.0),
            ):
                payloads = submit_payloads(f"{side[0]}{phase[0]}-{self.rid}", n)
                results[f"{side}_{phase}"] = await _phase(
                    self.client,
                    self.producer,
                    topic,
                    payloads,
                    rate,
                    lambda: consumer.handled,
                    wid,
                    task,
                )
        finally:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.to_thread(consumer.proc.stop, 20)
        return results


@dataclass
class FollowedProcess:
    """A consumer under test in a process of its own, and the counts it reported last."""

    proc: Any
    read: Callable[[], dict[str, int]]  # blocking: called in a thread
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return sum(self.counts.get(k, 0) for k in ("applied", "duplicate", "dead_lettered"))


def start_ingress_process(
    stack: BenchStack, commands: str, dlq: str, group: str
) -> FollowedProcess:
    """Run the ingress as deployed: its own interpreter, configured through the environment."""
    from tierflow_dev.devstack.procs import free_port

    settings = stack.settings(ingress_metrics_port=free_port())
    clients = settings.home / "bench_system_clients.toml"
    clients.write_text(BENCH_CLIENTS, "utf-8")
    env = {
        "TIERFLOW_SYSTEM_CLIENTS_FILE": str(clients),
        "TIERFLOW_COMMANDS_TOPIC": commands,
        "TIERFLOW_DEAD_LETTER_TOPIC": dlq,
        "TIERFLOW_INGRESS_GROUP": group,
        "TIERFLOW_INGRESS_METRICS_PORT": str(settings.ingress_metrics_port),
    }
    port = settings.ingress_metrics_port
    proc = start_tierflow_process(stack, settings, "ingress", env, port)
    url = f"http://127.0.0.1:{port}/metrics"
    return FollowedProcess(proc, lambda: ingress_counts(url))


def start_bare_process(
    stack: BenchStack, topic: str, received: Path | None = None
) -> FollowedProcess:
    """Run the bare loop (``tierflow_dev.bench.bare_consumer``) in its own interpreter too;
    with ``received``, the loop that only notes when each record arrived."""
    import sys

    from tierflow_dev.devstack.procs import ManagedProcess, wait_until

    count_file = stack.home / f"bare-{uuid.uuid4().hex[:6]}.count"
    mode = (
        ["--received-file", str(received)]
        if received is not None
        else ["--temporal-address", stack.temporal_address, "--task-queue", stack.task_queue]
    )
    proc = ManagedProcess(
        name="bench-bare-consumer" if received is None else "bench-hop-consumer",
        argv=[
            sys.executable,
            "-m",
            "tierflow_dev.bench.bare_consumer",
            "--bootstrap",
            stack.bootstrap,
            "--topic",
            topic,
            "--count-file",
            str(count_file),
            *mode,
        ],
        home=stack.home,
        cwd=stack.home,
    )
    proc.start()
    wait_until(
        count_file.exists, 120, "bare consumer subscribed", log=proc.log_path, alive=proc.is_running
    )
    return FollowedProcess(proc, lambda: {"applied": _read_count(count_file)})


async def kafka_hop(load: _Load, stack: BenchStack, topic: str) -> dict[str, Any]:
    """Kafka's own hop at the fixed offered load: sent until the consumer's poll returned it."""
    received_file = stack.home / f"hop-{load.rid}.tsv"
    hop = await asyncio.to_thread(start_bare_process, stack, topic, received_file)
    stop = asyncio.Event()
    task = asyncio.create_task(follow(hop, stop))
    expected = 0
    try:
        for phase, n in (("warmup", WARMUP), ("fixed", load.fixed_n)):
            payloads = submit_payloads(f"h{phase[0]}-{load.rid}", n)
            sent = await produce(load.producer, topic, payloads, load.params.rate)
            expected += n
            await _wait_count(lambda: hop.handled, expected, 60, f"received ({topic})", task)
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(hop.proc.stop, 20)
    lines = received_file.read_text().splitlines()
    arrived: dict[str, float] = {}  # a batch redelivered after a failed commit: its first
    for key, at in (line.split("\t") for line in lines):
        arrived.setdefault(key, float(at))
    hops = [arrived[key] - at for key, at in sent.items() if key in arrived]
    return {"latency_s": summarize(hops), "received": len(hops), "messages": len(sent)}


def _read_count(path: Path) -> int:
    return int(path.read_text() or 0)


def ingress_counts(metrics_url: str) -> dict[str, int]:
    """Commands handled by outcome, and retries, from the ingress's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tierflow_ingress_commands_total":
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0) + int(sample.value)
            elif sample.name == "tierflow_ingress_retries_total":
                counts["retries"] = int(sample.value)
    return counts


async def follow(consumer: FollowedProcess, stop: asyncio.Event) -> None:
    """Keep ``consumer.counts`` fresh until ``stop``; raise if the process exits meanwhile."""
    while not stop.is_set():
        if not consumer.proc.is_running():
            raise ConsumerStopped(f"{consumer.proc.name} exited; see {consumer.proc.log_path}")
        consumer.counts = await asyncio.to_thread(consumer.read)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.2)
        except TimeoutError:
            pass


async def run_ingress(stack: BenchStack, params: IngressParams) -> dict[str, Any]:
    """Fixed load and burst through the ingress process, then the same through the bare loop."""
    from tierflow.db.migrate import upgrade

    upgrade(stack.database_url)
    rid = run_id()
    topics = {n: f"bench.{n}.{rid}" for n in ("commands", "dlq", "bare", "hop")}
    # replicated as the topology replicates tierflow's topics (works for a given broker too)
    run_topics = dict.fromkeys(topics.values(), PARTITIONS)
    await asyncio.to_thread(ensure_topics, stack.bootstrap, run_topics, *stack.replication)
    client = await connect(stack)
    producer = make_producer(stack.bootstrap)
    fixed_n = max(1, int(params.rate * params.seconds))
    load = _Load(client, producer, rid, params, fixed_n)
    results: dict[str, Any] = {}
    worker = start_worker_process(stack)  # as deployed: the worker is not in the ingress process
    try:
        ingress = await asyncio.to_thread(
            start_ingress_process, stack, topics["commands"], topics["dlq"], f"bench-{rid}"
        )
        results |= await load.through(ingress, topics["commands"], "ingress", workflow_id)
        console.log(f"ingress: {ingress.counts}")
        bare = await asyncio.to_thread(start_bare_process, stack, topics["bare"])
        results |= await load.through(bare, topics["bare"], "bare", lambda k: f"bare-{k}")
        results["direct_start_fixed"] = await direct_starts(
            client, stack.task_queue, f"ds-{rid}", fixed_n, params.rate
        )
        results["kafka_hop_fixed"] = await kafka_hop(load, stack, topics["hop"])
    finally:
        worker.stop(timeout=20)
    producer.close(timeout=5)
    fixed_ratio = (
        results["bare_fixed"]["latency_s"]["p95"] / results["ingress_fixed"]["latency_s"]["p95"]
    )
    sat_ratio = (
        results["ingress_saturation"]["throughput_per_s"]
        / results["bare_saturation"]["throughput_per_s"]
    )
    results["p95_ratio_bare_over_ingress_fixed"] = fixed_ratio
    results["saturation_throughput_ratio"] = sat_ratio
    results["ingress_commands"] = ingress.counts
    fixed_p99 = results["ingress_fixed"]["latency_s"]["p99"]
    return {
        "params": {
            **params.__dict__,
            "partitions": PARTITIONS,
            "fixed_messages": fixed_n,
            "worker": "separate process: python -m tierflow.cli worker",
            "ingress": "separate process: python -m tierflow.cli ingress",
            "bare_loop": "separate process: python -m tierflow_dev.bench.bare_consumer",
            "kafka_hop": "separate process: ... bare_consumer --received-file (starts nothing)",
        },
        "results": results,
        "targets": {
            "fixed_load_p99_s": target(fixed_p99, TARGET_P99_S, "<="),
            "saturation_throughput_ratio": target(sat_ratio, TARGET_RATIO, ">="),
        },
    }
