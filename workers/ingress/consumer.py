"""The command consumer: poll, hand each record to its request's lane, commit what is done.

At-least-once, in order per request: a partition's offset is committed only up to its first
unfinished record, so a crash or a rebalance redelivers (and the redelivery is answered as a
duplicate) but never skips. Polling goes on while commands run; a partition with its share
of ``max_pending`` records unfinished is paused (heartbeats and rebalances go on), so a client
flooding its own topic, or sending commands that wait, holds back its own partitions only.
kafka-python is synchronous and not thread-safe: every consumer call runs on one dedicated
thread, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry
from temporalio.client import Client

from schemas.events import CommandError, ParsedCommand
from schemas.lifecycle import Wording
from tierflow import constants
from tierflow.accounts_source import Account
from tierflow.dead_letter import DeadLetter
from tierflow.directory import Directory, DirectoryWatch
from tierflow.kafka_consumer import Polled, commit, group_consumer, poll
from tierflow.kafka_fixes import REPLACED_CLOSE_MS, FetchWatch, JoinWatch
from tierflow.kafka_io import make_producer
from tierflow.partition_progress import Health, PartitionProgress, Partitions
from tierflow.rate_limit import RateLimiter
from tierflow.submission import Recorded
from tierflow.system_clients import SystemClient, SystemClients, load_system_clients
from workers.ingress import identity
from workers.ingress.commands import Backoff, CommandRunner, sleep_unless_stopped
from workers.ingress.dead_letter import DeadLetterQueue
from workers.ingress.decode import command_label, decode
from workers.ingress.lanes import Lanes
from workers.ingress.metrics import IngressMetrics, IngressStats
from workers.ingress.temporal_calls import Verdict

log = logging.getLogger("tierflow.ingress")
T = TypeVar("T")
HEARTBEATS_PER_SESSION = 5  # a busy ingress still sends several before its session lapses


# the last commit at stop: tries, and the poll between two that lets a rebalance finish
FINAL_COMMIT_ATTEMPTS = 3
FINAL_COMMIT_POLL_SECONDS = 0.5
LOG_APPEND_TIME = 1  # a record's timestamp_type when the broker set its timestamp


class Ingress:
    """Consume commands, make one idempotent Temporal call each, commit in order.

    Use ``await run(stop)``; ``health()`` feeds ``/healthz`` and ``stats`` counts outcomes.
    """

    def __init__(
        self,
        client: Client,
        bootstrap: str,
        task_queue: str = constants.TASK_QUEUE,
        commands_topic: str = constants.COMMANDS_TOPIC,
        dlq_topic: str = constants.DEAD_LETTER_TOPIC,
        group_id: str = constants.INGRESS_GROUP,
        registry: CollectorRegistry | None = None,
        *,
        backoff: Backoff | None = None,
        rpc_timeout: timedelta = timedelta(seconds=30),
        shutdown_grace: float = 10.0,
        rejoin_timeout: float = constants.REJOIN_SECONDS,
        poll_timeout: float = 1.0,
        max_records: int = constants.INGRESS_MAX_POLL_RECORDS,
        max_in_flight: int = constants.INGRESS_MAX_IN_FLIGHT,
        max_pending: int = constants.INGRESS_MAX_PENDING,
        stall_seconds: float = constants.INGRESS_STALL_SECONDS,
        commit_interval: float = constants.INGRESS_COMMIT_INTERVAL_SECONDS,
        session_timeout: float = constants.INGRESS_SESSION_TIMEOUT_SECONDS,
        fetch_stall_seconds: float = constants.FETCH_STALL_SECONDS,
        producer: KafkaProducer | None = None,
        consumer_config: dict[str, Any] | None = None,
        clients: SystemClients | None = None,
        directory: Callable[[], Directory] | None = None,
        accounts: Callable[[str], Account | None] = lambda name: None,
        trust_sources: bool = True,
        recorded: Recorded,
    ) -> None:
        self.bootstrap = bootstrap
        self.commands_topic = commands_topic
        self.dlq_topic = dlq_topic
        self.group_id = group_id
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = IngressMetrics(self.registry)
        self.backoff = backoff or Backoff()
        self.stats = IngressStats()
        self.runner = CommandRunner(
            client,
            task_queue,
            self.metrics,
            self.stats,
            backoff=self.backoff,
            rpc_timeout=rpc_timeout,
            max_in_flight=max_in_flight,
            recorded=recorded,
        )
        self.shutdown_grace = shutdown_grace
        self.rejoin_timeout = rejoin_timeout
        self.poll_timeout = poll_timeout
        self.max_records = max_records
        self.max_pending = max_pending
        self.session_timeout = session_timeout
        self.commit_interval = commit_interval
        self._committed_at = float("-inf")  # monotonic time of the last commit
        self.partitions = Partitions(stall_seconds)
        self.metrics.partitions.partitions = self.partitions
        self.clients = clients if clients is not None else load_system_clients()
        self.topics = [commands_topic, *self.clients.topics]
        self._directory = directory  # read on the first command that names a caseworker
        self._accounts = accounts  # a named person's account, if tierflow has one
        self.trust_sources = trust_sources  # off with Kafka authentication: topics name clients
        self._rates: dict[str, RateLimiter] = {}
        self._producer = producer
        self._own_producer = producer is None
        self._consumer_config = consumer_config or {}
        self._consumer: KafkaConsumer | None = None
        self._started = False  # a consumer existed once: a missing one is lost, not starting
        self._dead_letters: DeadLetterQueue | None = None
        self.join_watch = JoinWatch()
        self.fetch_watch = FetchWatch(fetch_stall_seconds)
        self._lanes = Lanes()
        self._stop = asyncio.Event()
        self._kafka_thread = ThreadPoolExecutor(1, thread_name_prefix="ingress-kafka")
        self._send_threads = ThreadPoolExecutor(4, thread_name_prefix="ingress-dlq")

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:
        """True once the consumer is subscribed."""
        return self._consumer is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; then finish in-flight work (within the grace),
        commit it and close."""
        self._stop = stop
        await self._start()
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except Exception:  # noqa: BLE001 - a broker hiccup must not end the consumer
                    log.exception("ingress loop error; retrying in 1 s")
                    await sleep_unless_stopped(1.0, stop)
        finally:
            await self._close()

    async def run_once(self) -> None:
        """Poll once, queue what arrived on its lanes, commit what has finished."""
        await self._start()
        if self.join_watch.stuck_for() > self.rejoin_timeout:
            await self._replace_consumer(f"group join unfinished for {self.rejoin_timeout:.0f} s")
        hold = self.partitions.crowded(self.max_pending)
        timeout = min(self.poll_timeout, 0.1) if len(self._lanes) else self.poll_timeout
        polled = await self._kafka(self._poll, timeout, hold)
        self.partitions.follow(polled.assignment, polled.highwaters, polled.records)
        for tp, records in polled.records.items():
            progress = self.partitions.get(tp)
            for record in records:
                if progress.take(record.offset):
                    self._queue(tp, progress, record)
        await self._commit(at_most_every=self.commit_interval)
        await self._check_fetching()

    async def _start(self) -> None:
        if self._consumer is not None:
            return
        if self._producer is None:
            self._producer = await self._kafka(make_producer, self.bootstrap)
        self._dead_letters = DeadLetterQueue(
            self._producer,
            self.dlq_topic,
            self.backoff,
            self.metrics,
            self.stats,
            self._send_threads,
        )
        self._consumer = await self._kafka(self._new_consumer)
        self._started = True
        log.info("ingress consuming %s as group %s", ", ".join(self.topics), self.group_id)

    def _new_consumer(self) -> KafkaConsumer:
        consumer = group_consumer(
            self.bootstrap,
            self.group_id,
            self.topics,
            max_records=self.max_records,
            config=self._consumer_config,
            # a command may wait out a Temporal outage; heartbeats run on their own thread
            max_poll_interval_ms=30 * 60 * 1000,
            session_timeout_ms=int(self.session_timeout * 1000),
            heartbeat_interval_ms=int(self.session_timeout * 1000 / HEARTBEATS_PER_SESSION),
        )
        self.join_watch = JoinWatch()
        consumer.subscribe(self.topics, listener=self.join_watch)
        return consumer

    async def _check_fetching(self) -> None:
        """Replace the consumer if it has stopped fetching a partition with records waiting
        (tierflow.kafka_fixes, item 4); checked a few times per stall time."""
        if not self.fetch_watch.due():
            return
        consumer = self._consumer
        assert consumer is not None
        why = await self._kafka(self.fetch_watch.check, consumer)
        if why is not None:
            await self._replace_consumer(why)

    async def _replace_consumer(self, why: str) -> None:
        """Replace a consumer stuck in its group join (tierflow.kafka_fixes, item 3) or no
        longer fetching (item 4)."""
        log.warning("%s; replacing the consumer", why)
        self.stats.rebuilds += 1
        self.fetch_watch.forget()
        old, self._consumer = self._consumer, None
        if old is not None:
            try:
                await self._kafka(old.close, False, REPLACED_CLOSE_MS)
            except Exception as exc:  # noqa: BLE001 - the old client is dropped either way
                log.warning("closing the stuck consumer failed: %s", exc)
        self.partitions.follow(set(), {})
        await self._start()

    async def _close(self) -> None:
        """Finish in-flight work within the grace, commit it, leave the group, release clients.

        Work still unfinished after the grace is cancelled and left uncommitted: the next
        owner of its partition gets it again (every call is idempotent).
        """
        if not await self._lanes.drain(self.shutdown_grace):
            await self._lanes.cancel()
        if self._consumer is not None:
            await self._final_commit()
            consumer, self._consumer = self._consumer, None
            await self._kafka(consumer.close, False)
        if self._producer is not None and self._own_producer:
            producer, self._producer = self._producer, None
            await self._kafka(producer.close, 5)
        self._kafka_thread.shutdown(wait=False)
        self._send_threads.shutdown(wait=False)
        log.info("ingress stopped: %s", self.stats)

    # ------------------------------------------------------------------ one record
    def _queue(self, tp: TopicPartition, progress: PartitionProgress, record: Any) -> None:
        """Put the record on its request's lane (undecodable records on a lane of their own)."""
        key: Hashable
        cmd: ParsedCommand | CommandError
        client: SystemClient | None = None
        try:
            cmd = decode(record.value, record.headers, record.key)
            try:
                client = identity.authorize(
                    cmd, tp.topic, self.clients, self._place_of, self.trust_sources, self._accounts
                )
            except CommandError as refused:
                refused.event = cmd.event  # read, then refused: its id and source name it
                raise
            key = cmd.request_id
        except CommandError as exc:
            cmd, key = exc, (tp, record.offset)
        self._lanes.add(key, lambda: self._settle(progress, record, cmd, client))

    def _place_of(self, institution_id: str) -> str | None:
        """The directory's division code of an institution (None: not in the directory)."""
        if self._directory is None:
            self._directory = DirectoryWatch(None).current  # the packaged directory
        entry = self._directory().get(institution_id)
        return entry.division_code if entry is not None else None

    async def _settle(
        self,
        progress: PartitionProgress,
        record: Any,
        cmd: ParsedCommand | CommandError,
        client: SystemClient | None,
    ) -> None:
        """Bring one record to a committable end; retried until it gets there or is halted."""
        attempt = 0
        try:
            while not self._halted(progress):
                attempt += 1
                try:
                    if client is not None and not await self._admit(client, progress):
                        break
                    if await self._handle(progress, record, cmd):
                        progress.finish(record.offset)
                        return
                    break
                except Exception:  # noqa: BLE001 - never skip a record for a bug: try it again
                    log.exception("unexpected error on %s@%d", record.partition, record.offset)
                    await sleep_unless_stopped(self.backoff.delay(attempt), self._stop)
        except asyncio.CancelledError:
            self.stats.abandoned += 1  # cancelled at shutdown: redelivered to the next owner
            raise
        self.stats.abandoned += 1

    async def _admit(self, client: SystemClient, progress: PartitionProgress) -> bool:
        """Wait until the client's rate allows one more command; False if halted first.

        The wait holds the request's lane but no Temporal-call slot.
        """
        limiter = self._rates.get(client.id)
        if limiter is None:
            limiter = self._rates[client.id] = RateLimiter(client.rate_per_second, client.burst)
        while (wait := limiter.take(client.id)) is not None:
            self.metrics.rate_limited.labels(client.id).inc()
            await sleep_unless_stopped(max(wait, 0.01), self._stop)
            if self._halted(progress):
                return False
        return True

    async def _handle(
        self, progress: PartitionProgress, record: Any, cmd: ParsedCommand | CommandError
    ) -> bool:
        """Decode, call Temporal, or dead-letter; False if halted before the end."""
        if isinstance(cmd, CommandError):
            read = cmd.event
            why = DeadLetter(
                cmd.reason_code,
                cmd.message,
                wording=Wording.of(cmd.worded),
                command_id=read.id if read else None,
                source=read.source if read else None,
            )
            label = command_label(record.value, record.headers)
            return await self._park(progress, record, why, label)
        answer = await self.runner.run(cmd, self._stop, lambda: self._halted(progress))
        if answer is None:
            return False
        outcome, attempts = answer
        if outcome.verdict is Verdict.DEAD_LETTER:
            why = DeadLetter(
                outcome.reason,
                outcome.message,
                attempts,
                outcome.wording,
                command_id=cmd.event.id,
                source=cmd.event.source,
                client=_client_of(cmd),
            )
            return await self._park(progress, record, why, cmd.command)
        self.metrics.commands.labels(cmd.command, outcome.verdict.value).inc()
        self.metrics.latency.observe(_latency(record, cmd))
        if outcome.verdict is Verdict.APPLIED:
            self.stats.applied += 1
        else:
            self.stats.duplicate += 1
        return True

    async def _park(
        self, progress: PartitionProgress, record: Any, why: DeadLetter, label: str
    ) -> bool:
        assert self._dead_letters is not None
        return await self._dead_letters.park(
            record,
            why,
            label,
            self._stop,
            lambda: self._halted(progress),
            self._dlq_of(record, why),
        )

    def _dlq_of(self, record: Any, why: DeadLetter) -> str | None:
        """The client's own dead-letter topic, if it has one: the client whose commands topic
        the record came on, else the one the command was taken for, else the one its source
        names (where sources name clients)."""
        client = self.clients.by_topic(record.topic)
        if client is None and why.client:
            client = self.clients.by_id(why.client)
        if client is None and why.source and self.trust_sources:
            client = self.clients.by_source(why.source)
        return client.dead_letter_topic if client else None

    def _halted(self, progress: PartitionProgress) -> bool:
        return self._stop.is_set() or progress.revoked

    # ------------------------------------------------------------------ offsets
    async def _commit(self, at_most_every: float = 0.0) -> None:
        """Commit every partition's position that moved since its last commit, unless the last
        commit is less than ``at_most_every`` seconds old."""
        due = self.partitions.due()
        if not due or self._consumer is None:
            return
        if time.monotonic() - self._committed_at < at_most_every:
            return
        if await self._kafka(self._commit_now, due):
            self.partitions.committed(due)
            self._committed_at = time.monotonic()

    async def _final_commit(self) -> None:
        """Commit what is done before leaving. A rebalance under way (replicas joining and
        leaving in a rolling deploy) refuses a commit, so drive it with a poll that fetches
        nothing (every partition paused) and try again, a few times; what is still not
        committed is redelivered to the next owner (every call is idempotent)."""
        for attempt in range(FINAL_COMMIT_ATTEMPTS):
            due = self.partitions.due()
            if not due:
                return
            if await self._kafka(self._commit_now, due):
                self.partitions.committed(due)
                return
            if attempt + 1 < FINAL_COMMIT_ATTEMPTS:
                await self._kafka(self._poll, FINAL_COMMIT_POLL_SECONDS, None)  # fetch none

    def health(self) -> Health:
        """``ok``; ``starting`` before the first consumer exists; ``degraded`` once one was
        lost and not replaced yet, or while a partition has records waiting but its commit
        has not moved for ``stall_seconds``."""
        if self._consumer is None:
            return Health("degraded" if self._started else "starting")
        return self.partitions.health()

    # ------------------------------------------------------------------ kafka thread
    def _poll(self, timeout: float, hold: set[TopicPartition] | None) -> Polled:
        """Poll with the partitions ``hold`` paused (None: all of them), the rest resumed;
        report assignment and ends."""
        consumer = self._consumer
        assert consumer is not None
        assigned = set(consumer.assignment())
        paused, held = set(consumer.paused()), assigned if hold is None else hold & assigned
        if held - paused:
            consumer.pause(*(held - paused))
        if paused - held:
            consumer.resume(*(paused - held))
        return poll(consumer, timeout)

    def _commit_now(self, due: dict[TopicPartition, int]) -> bool:
        return self._consumer is not None and commit(self._consumer, due)

    async def _kafka(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a client call on the ingress's one Kafka thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._kafka_thread, fn, *args)


def _client_of(cmd: ParsedCommand) -> str | None:
    """The system client a command was taken for: the one acting for the person it names, or
    acting itself (``identity.authorize`` set the actor)."""
    actor = cmd.action.actor if cmd.action else cmd.submit.submitted_by if cmd.submit else None
    return (actor.via or actor.id) if actor else None


def _latency(record: Any, cmd: ParsedCommand) -> float:
    """Seconds from the broker's append of the command (its ``LogAppendTime``) until now.

    Only a topic set to ``LogAppendTime`` (``TOPIC_CONFIGS``) gives the broker's clock; on
    one that keeps the producer's ``CreateTime`` the start is the producer's claim, the
    CloudEvent ``time`` or the record's timestamp, as good as that producer's clock."""
    now = time.time()
    if record.timestamp_type == LOG_APPEND_TIME and record.timestamp:
        start = record.timestamp / 1000
    elif cmd.event.time is not None:
        sent = cmd.event.time
        start = sent.timestamp() if sent.tzinfo else sent.replace(tzinfo=UTC).timestamp()
    else:
        start = (record.timestamp or 0) / 1000 or now
    return max(0.0, now - start)
