"""``tierflow ingress``: the Kafka command consumer that drives request workflows.

At-least-once, in order per request: a message's offset is committed only after its
Temporal call succeeded (or it was a duplicate) or it was parked on the dead-letter topic,
and so was every message before it in the partition. Messages are worked on as they arrive,
one lane per key (request id), each lane strictly in order, while polling goes on (up to
``max_pending`` messages unfinished); transient failures retry the same message with capped
exponential backoff, so nothing is skipped. Heartbeats run on kafka-python's own thread;
``max_poll_interval_ms`` is raised so a long Temporal outage does not cost the membership.

Kafka's client is synchronous: every consumer/producer call runs on one dedicated thread,
so the event loop (and a Temporal worker sharing it in tests) never blocks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry
from temporalio.client import Client

from schemas.events import CommandError, ParsedCommand
from tierflow import constants
from tierflow.kafka_io import load_topic_metadata, make_producer, send_to_dlq
from workers.ingress_decode import UNKNOWN_REQUEST, command_label, decode
from workers.ingress_metrics import IngressMetrics
from workers.ingress_offsets import OffsetTracker
from workers.ingress_temporal import Outcome, Verdict, apply_command

log = logging.getLogger("tierflow.ingress")
REBALANCE_POLL_SECONDS = 5.0  # one poll's length while the group rebalances
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff, and the budget for "workflow not found yet"."""

    initial: float = 0.2
    maximum: float = 10.0
    multiplier: float = 2.0
    not_found_seconds: float = 60.0  # then the action is dead-lettered as unknown_request
    not_found_attempts: int = 30

    def delay(self, attempt: int) -> float:
        return min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))


@dataclass
class IngressStats:
    """Per-instance tallies (the Prometheus counters are per registry)."""

    applied: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    retries: int = 0
    abandoned: int = 0  # left uncommitted at shutdown/rebalance: redelivered to the next owner
    rebuilds: int = 0  # consumers replaced after going rejoin_timeout without an assignment

    @property
    def committed(self) -> int:
        return self.applied + self.duplicate + self.dead_lettered


class _Listener(ConsumerRebalanceListener):
    """Commit what is done before partitions move; newer messages are redelivered."""

    def __init__(self, owner: Ingress) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner._on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner._on_assigned(assigned)
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))


class Ingress:
    """Consume commands, make one idempotent Temporal call each, commit in order.

    Each key (request id) is a lane of its own: a request's commands apply strictly one
    after another, in the order they were published, while other requests go ahead
    (``max_in_flight`` Temporal calls at most). Polling does not wait for a batch to finish,
    so one slow request (say, waiting for its workflow to exist) holds up only its own lane
    and the commit position behind it, until ``max_pending`` messages are unfinished.
    Use ``await run(stop_event)``, or ``start()``, ``run_once()`` ... ``close()`` in steps.
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
        rejoin_timeout: float = 30.0,
        poll_timeout: float = 1.0,
        max_records: int = constants.INGRESS_MAX_POLL_RECORDS,
        max_in_flight: int = constants.INGRESS_MAX_IN_FLIGHT,
        max_pending: int = constants.INGRESS_MAX_PENDING,
        producer: KafkaProducer | None = None,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.bootstrap = bootstrap
        self.task_queue = task_queue
        self.commands_topic = commands_topic
        self.dlq_topic = dlq_topic
        self.group_id = group_id
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = IngressMetrics(self.registry)
        self.backoff = backoff or Backoff()
        self.rpc_timeout = rpc_timeout
        self.shutdown_grace = shutdown_grace
        self.rejoin_timeout = rejoin_timeout
        # monotonic time since the consumer was created or revoked and not (re)assigned:
        # lasting rejoin_timeout, the consumer is rebuilt
        self._revoked_at: float | None = None
        self._rejoin_next = False  # the coordinator wanted a rejoin at the last commit
        self.poll_timeout = poll_timeout
        self.max_records = max_records
        self._slots = asyncio.Semaphore(max_in_flight)  # Temporal calls in flight at once
        self.max_pending = max_pending  # polled but unfinished messages before polling pauses
        self._tasks: set[asyncio.Task[None]] = set()  # one per unfinished message
        self._lanes: dict[bytes | None, asyncio.Task[None]] = {}  # last message of each key
        self._trackers: dict[TopicPartition, OffsetTracker] = {}
        self._abandon = asyncio.Event()  # set when shutdown's grace is over
        self.stats = IngressStats()
        self._producer = producer
        self._own_producer = producer is None
        self._consumer_config = consumer_config or {}
        self._consumer: KafkaConsumer | None = None
        self._kafka_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingress-kafka")
        self._send_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingress-dlq")
        self._done: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self._lock = threading.Lock()
        self._generation = 0  # bumped on every revocation; older work is not committed
        self._unfinished: dict[TopicPartition, int] = {}  # revoked with work in flight
        self._uncommitted: dict[TopicPartition, int] = {}  # revoked with a commit pending
        self._settled_in = -1  # the generation whose coming rebalance we already waited for
        # offsets handled but not committed yet: a redelivery (after a rebalance) skips them
        self._handled: dict[TopicPartition, set[int]] = {}
        self._handed_back: dict[TopicPartition, int] = {}  # ... and assigned again: refetch
        self._lag_labels: set[str] = set()

    @property
    def ready(self) -> bool:
        """True once the consumer is subscribed (for /healthz)."""
        return self._consumer is not None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Create the producer (unless given) and the subscribed group consumer."""
        if self._consumer is not None:
            return
        if self._producer is None:
            self._producer = await self._kafka(make_producer, self.bootstrap)
        self._consumer = await self._kafka(self._make_consumer)
        self._revoked_at = time.monotonic()  # not assigned yet
        log.info(
            "ingress consuming %s as group %s -> task queue %s",
            self.commands_topic,
            self.group_id,
            self.task_queue,
        )

    def _make_consumer(self) -> KafkaConsumer:
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "group_id": self.group_id,
            "client_id": f"tierflow-{self.group_id}",
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_poll_records": self.max_records,
            # a batch may wait out a Temporal outage before the next poll
            "max_poll_interval_ms": 30 * 60 * 1000,
            # kafka-python 3.0's incremental fetch sessions can stop returning a partition's
            # records after a rebalance (dpkp/kafka-python#3131, #2575); full fetches are
            # cheap at our volumes.
            "enable_incremental_fetch_sessions": False,
            **self._consumer_config,
        }
        consumer = KafkaConsumer(**config)
        load_topic_metadata(consumer, [self.commands_topic])
        consumer.subscribe([self.commands_topic], listener=_Listener(self))
        return consumer

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; then finish in-flight messages, commit and close."""
        await self.start()
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except Exception:  # noqa: BLE001 - a broker hiccup must not end the consumer
                    log.exception("ingress loop error; retrying in 1 s")
                    await _sleep_or_stop(1.0, stop)
        finally:
            await self.close()

    async def close(self) -> None:
        """Let in-flight work finish, commit it, leave the group and release the clients.

        Messages not finished are left uncommitted: the next owner of their partition gets
        them again (every call is idempotent).
        """
        if self._tasks:  # polling has stopped: finish what was fetched, within the grace
            _, late = await asyncio.wait(set(self._tasks), timeout=self.shutdown_grace)
            if late:
                self._abandon.set()  # the rest is left uncommitted and redelivered
                await asyncio.gather(*late, return_exceptions=True)
        consumer = self._consumer
        if consumer is not None:
            await self._kafka(self._commit_done)
            self._consumer = None
            await self._kafka(consumer.close, False)
        if self._producer is not None and self._own_producer:
            producer, self._producer = self._producer, None
            await self._kafka(producer.close, 5)
        self._kafka_thread.shutdown(wait=False)
        self._send_threads.shutdown(wait=False)
        log.info("ingress stopped: %s", self.stats)

    async def run_once(self) -> int:
        """Poll once, start work on what arrived, commit what has finished in order.

        Returns how many messages reached a committable end meanwhile. While
        ``max_pending`` messages are unfinished it polls with its partitions paused: nothing
        more is fetched, but the group's heartbeats and rebalances go on (a new member gets
        its partitions; unfinished work of a revoked partition is redelivered, idempotent).
        """
        await self.start()
        await self._rebuild_if_stuck()
        before = self.stats.committed
        rebalancing = self._revoked_at is not None or self._rejoin_next
        full = len(self._tasks) >= self.max_pending
        if not full:
            unsettled = bool(self._tasks) and self._settled_in != self._generation
            if unsettled and rebalancing and self._revoked_at is None:
                await self._settle_before_rebalance()
                self._settled_in = self._generation  # once: a rejoin takes several polls
        if rebalancing:
            # stay inside poll until the join completes: with short polls meanwhile,
            # kafka-python 3.0.12 sometimes never finished the rejoin (its coordinator
            # stayed unknown); _rebuild_if_stuck is the safety net
            timeout = max(self.poll_timeout, REBALANCE_POLL_SECONDS)
        elif self._tasks:  # short polls: finished work is committed (and room seen) promptly
            timeout = min(self.poll_timeout, 0.1)
        else:
            timeout = self.poll_timeout
        batch = await self._kafka(self._poll, timeout, full)
        generation = self._generation
        for tp, records in batch.items():
            for msg in records:
                self._dispatch(tp, msg, generation, self._abandon)
        self._rejoin_next = await self._kafka(self._commit_and_check)
        return self.stats.committed - before

    def _commit_and_check(self) -> bool:
        """Commit finished work; True if the next poll will rebalance (one Kafka-thread hop)."""
        self._commit_done()
        return self._rejoin_pending()

    async def _rebuild_if_stuck(self) -> None:
        """Replace a consumer left without an assignment for ``rejoin_timeout``.

        kafka-python 3.0.12 can stop short of finishing a rebalance (seen as the group
        leader while another member joined with a topic it had no metadata for: it looked
        for the coordinator for good and never rejoined). A fresh consumer joins afresh and
        starts from the committed offsets; unfinished work was already dropped at the
        revocation and is fetched again.
        """
        revoked_at = self._revoked_at
        if revoked_at is None or time.monotonic() - revoked_at < self.rejoin_timeout:
            return
        log.warning(
            "no partitions assigned for %.0f s; rebuilding the consumer",
            time.monotonic() - revoked_at,
        )
        self.stats.rebuilds += 1
        old, self._consumer = self._consumer, None
        if old is not None:
            try:
                await self._kafka(functools.partial(old.close, False, timeout_ms=5000))
            except Exception as exc:  # noqa: BLE001 - the old client is dropped either way
                log.warning("closing the stuck consumer failed: %s", exc)
        with self._lock:
            self._unfinished, self._uncommitted, self._handed_back = {}, {}, {}
        self._consumer = await self._kafka(self._make_consumer)
        self._revoked_at = time.monotonic()  # not assigned yet

    async def _settle_before_rebalance(self) -> None:
        """Finish (within the grace) and commit the work in flight before the group rebalances.

        The next poll revokes partitions; work finished and committed by then is neither
        redelivered nor done twice. What is still running after the grace is refetched.
        """
        began, running = time.monotonic(), len(self._tasks)
        await asyncio.wait(set(self._tasks), timeout=self.shutdown_grace)
        await self._kafka(self._commit_done)
        log.info(
            "group rebalancing: waited %.2f s for %d commands in flight (%d still running)",
            time.monotonic() - began,
            running,
            len(self._tasks),
        )

    def _rejoin_pending(self) -> bool:
        """True when the next poll will rebalance (kafka-python 3.0's coordinator knows)."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        try:
            return bool(coordinator is not None and coordinator.need_rejoin())
        except Exception:  # noqa: BLE001 - an unknown client version: just poll
            return False

    def _dispatch(
        self, tp: TopicPartition, msg: ConsumerRecord, generation: int, stop: asyncio.Event | None
    ) -> None:
        """Queue ``msg`` behind the last message with its key."""
        tracker = self._trackers.setdefault(tp, OffsetTracker())
        if not tracker.add(msg.offset):
            return  # fetched before a rewind: the seek brings it again, in order
        before = self._lanes.get(msg.key)
        task = asyncio.create_task(
            self._lane_step(before, tp, msg, tracker, tracker.epoch, generation, stop)
        )
        self._lanes[msg.key] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._forget, msg.key))

    def _forget(self, key: bytes | None, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._lanes.get(key) is task:
            del self._lanes[key]

    async def _lane_step(
        self,
        before: asyncio.Task[None] | None,
        tp: TopicPartition,
        msg: ConsumerRecord,
        tracker: OffsetTracker,
        epoch: int,
        generation: int,
        stop: asyncio.Event | None,
    ) -> None:
        """Handle ``msg`` once the key's previous message is through; then mark it done."""
        if before is not None:
            await asyncio.wait({before})
        if self._halted(stop, generation) or tracker.epoch != epoch:
            self.stats.abandoned += 1  # fetched again by whoever owns the partition next
            return
        with self._lock:
            again = msg.offset in self._handled.get(tp, ())
        if again:  # a redelivery of work done before a rebalance: do not do it twice
            self._finished(tp, msg.offset, tracker, epoch, generation)
            return
        try:
            async with self._slots:
                handled = await self._handle(msg, stop, generation)
        except Exception:  # noqa: BLE001 - never lose the partition to a bug: redeliver
            log.exception("unexpected error on %s@%d", tp, msg.offset)
            await self._rewind(tp, msg.offset, tracker, epoch, generation, stop)
            self.stats.abandoned += 1
            return
        if not handled:
            self.stats.abandoned += 1
            return
        with self._lock:
            self._handled.setdefault(tp, set()).add(msg.offset)
        self._finished(tp, msg.offset, tracker, epoch, generation)

    def _finished(
        self, tp: TopicPartition, offset: int, tracker: OffsetTracker, epoch: int, generation: int
    ) -> None:
        """Move the partition's commit position if ``offset`` closes a gap."""
        if tracker.epoch == epoch:
            position = tracker.finish(offset)
            if position is not None:
                self._mark_done(tp, position, generation)

    async def _rewind(
        self,
        tp: TopicPartition,
        offset: int,
        tracker: OffsetTracker,
        epoch: int,
        generation: int,
        stop: asyncio.Event | None,
    ) -> None:
        """Fetch the partition again from its first unfinished offset (``offset`` or before).

        Later work of the partition still running finishes, but does not count; the
        redelivered copies are answered as duplicates.
        """
        if tracker.epoch != epoch or self._halted(stop, generation):
            return
        position = tracker.rewind()
        if position is None or self._consumer is None:
            return
        try:
            await self._kafka(self._consumer.seek, tp, position)
        except Exception as exc:  # noqa: BLE001 - revoked meanwhile: the next owner refetches
            log.warning("could not rewind %s to %d (failed at %d): %s", tp, position, offset, exc)

    # ------------------------------------------------------------------ kafka thread
    def _poll(self, timeout: float, full: bool) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Poll; while ``full``, with every assigned partition paused.

        Paused, the group's heartbeats and rebalances go on but nothing is fetched
        (partitions assigned during the poll may still bring a few records). kafka-python
        keeps records it had fetched for a paused partition and hands them out after
        ``resume``, so pausing loses nothing.
        """
        consumer = self._consumer
        assert consumer is not None
        if full:
            consumer.pause(*consumer.assignment())
        else:
            consumer.resume(*consumer.paused())
        _unstick_parked_partitions(consumer)
        batch = consumer.poll(timeout_ms=int(timeout * 1000))
        with self._lock:
            handed_back, self._handed_back = self._handed_back, {}
        if handed_back:
            self._refetch_unfinished(consumer, handed_back)
            batch = {tp: records for tp, records in batch.items() if tp not in handed_back}
        self._update_lag()
        return batch

    def _refetch_unfinished(self, consumer: KafkaConsumer, offsets: dict[Any, int]) -> None:
        """Fetch partitions a rebalance handed straight back from their first unfinished offset.

        kafka-python keeps the fetch position of a partition that stays assigned across a
        rebalance, but the work in flight when it was revoked no longer counts: without this
        seek those messages would be skipped, and a later commit would move past them.
        """
        for tp, offset in offsets.items():
            try:
                consumer.seek(tp, offset)
            except Exception as exc:  # noqa: BLE001 - the next owner starts from the commit
                log.warning("could not refetch %s from %d: %s", tp, offset, exc)

    def _commit_done(self) -> None:
        """Commit the next offset of every partition with finished work (in order)."""
        consumer = self._consumer
        with self._lock:
            done = dict(self._done)
        if not done or consumer is None:
            return
        try:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in done.items()})
        except CommitFailedError as exc:  # the group moved on: these will be redelivered
            log.warning("commit failed (rebalance), messages will be redelivered: %s", exc)
        except Exception as exc:  # noqa: BLE001 - transient: kept and retried next round
            log.warning("commit failed, retrying: %s", exc)
            return
        with self._lock:
            for tp, offset in done.items():
                if self._done.get(tp) == offset:
                    del self._done[tp]
                handled = self._handled.get(tp)
                if handled:
                    self._handled[tp] = {o for o in handled if o >= offset}

    def _on_revoked(self, revoked: Any) -> None:
        """Runs on kafka-python's IO thread: must not block (no commit here).

        Work finished but not yet committed is committed if the partition comes straight
        back, and otherwise redelivered to its next owner (and answered as a duplicate).
        """
        with self._lock:
            pending, self._done = self._done, {}
            self._generation += 1
            self._revoked_at = time.monotonic()
            for tp in revoked:  # unfinished work: refetch it if the partition comes back
                tracker = self._trackers.get(tp)
                first = tracker.first_open if tracker is not None else None
                if first is not None:
                    self._unfinished[tp] = first
                elif tp in pending:  # all finished: commit it if the partition comes back
                    self._uncommitted[tp] = pending[tp]
            self._trackers = {}
        if revoked:
            log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def _on_assigned(self, assigned: Any) -> None:
        """Runs on kafka-python's IO thread: the next ``_poll`` refetches unfinished work."""
        with self._lock:
            self._revoked_at = None
            for tp in assigned:
                if tp in self._unfinished:
                    self._handed_back[tp] = self._unfinished[tp]
                elif tp in self._uncommitted:
                    self._done[tp] = self._uncommitted[tp]
            self._unfinished, self._uncommitted = {}, {}
            for tp in set(self._handled) - set(assigned):  # another member owns it now
                del self._handled[tp]

    def _update_lag(self) -> None:
        """Set the lag gauge from what the client already knows: no network call here.

        ``end_offsets`` and ``position`` may block on the group coordinator, and during a
        rebalance that wait would hold up the very poll that completes it. The high-water
        mark arrives with every fetch response, so a partition's lag shows after its first.
        """
        consumer = self._consumer
        if consumer is None:
            return
        try:
            labels = set()
            for tp in consumer.assignment():
                end, position = consumer.highwater(tp), _known_position(consumer, tp)
                if end is None or position is None:
                    continue
                label = str(tp.partition)
                self.metrics.lag.labels(label).set(max(0, end - position))
                labels.add(label)
            for gone in self._lag_labels - labels:
                self.metrics.lag.remove(gone)
            self._lag_labels = labels
        except Exception as exc:  # noqa: BLE001 - lag is best effort
            log.debug("lag update failed: %s", exc)

    def _halted(self, stop: asyncio.Event | None, generation: int) -> bool:
        return (stop is not None and stop.is_set()) or generation != self._generation

    def _mark_done(self, tp: TopicPartition, next_offset: int, generation: int) -> None:
        """Commit up to ``next_offset`` next round, unless the partition moved away."""
        with self._lock:
            if generation == self._generation:
                self._done[tp] = next_offset

    # ------------------------------------------------------------------ one message
    async def _handle(
        self, msg: ConsumerRecord, stop: asyncio.Event | None, generation: int
    ) -> bool:
        """Process one message to a committable end; False if it must stay uncommitted."""
        try:
            cmd = decode(msg.value, msg.headers, msg.key)
        except CommandError as exc:
            label = command_label(msg.value, msg.headers)
            return await self._dead_letter(
                msg, label, exc.reason_code, exc.message, 1, stop, generation
            )
        answer = await self._apply_with_retries(cmd, stop, generation)
        if answer is None:
            return False
        outcome, attempts = answer
        if outcome.verdict is Verdict.DEAD_LETTER:
            return await self._dead_letter(
                msg, cmd.command, outcome.reason, outcome.message, attempts, stop, generation
            )
        self.metrics.commands.labels(cmd.command, outcome.verdict.value).inc()
        self.metrics.latency.observe(_latency(msg, cmd))
        if outcome.verdict is Verdict.APPLIED:
            self.stats.applied += 1
        else:
            self.stats.duplicate += 1
        return True

    async def _apply_with_retries(
        self, cmd: ParsedCommand, stop: asyncio.Event | None, generation: int
    ) -> tuple[Outcome, int] | None:
        """Call Temporal until the answer is final (with the attempt count); None if halted."""
        attempt, not_found_since, not_found_tries = 0, 0.0, 0
        while True:
            attempt += 1
            outcome = await self._call(cmd, stop)
            if outcome is None:
                return None
            if outcome.verdict is Verdict.NOT_FOUND:
                not_found_tries += 1
                not_found_since = not_found_since or time.monotonic()
                waited = time.monotonic() - not_found_since
                if (
                    waited >= self.backoff.not_found_seconds
                    or not_found_tries >= self.backoff.not_found_attempts
                ):
                    message = (
                        f"no workflow for request {cmd.request_id} after {not_found_tries} "
                        f"attempts in {waited:.0f} s"
                    )
                    return Outcome(Verdict.DEAD_LETTER, UNKNOWN_REQUEST, message), attempt
            elif outcome.verdict is not Verdict.RETRY:
                return outcome, attempt
            self.stats.retries += 1
            self.metrics.retries.inc()
            delay = self.backoff.delay(attempt)
            log.info(
                "retrying %s %s for %s in %.1f s (attempt %d): %s",
                cmd.command,
                cmd.event.id,
                cmd.request_id,
                delay,
                attempt,
                outcome.message,
            )
            await _sleep_or_stop(delay, stop)
            if self._halted(stop, generation):
                return None

    async def _call(self, cmd: ParsedCommand, stop: asyncio.Event | None) -> Outcome | None:
        """Run the Temporal call; on stop give it ``shutdown_grace`` seconds, then abandon."""
        task = asyncio.ensure_future(
            apply_command(self.client, cmd, self.task_queue, self.rpc_timeout)
        )
        if stop is None:
            return await task
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=self.shutdown_grace)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return None
            return task.result()
        finally:
            stopper.cancel()

    async def _dead_letter(
        self,
        msg: ConsumerRecord,
        label: str,
        reason: str,
        message: str,
        attempts: int,
        stop: asyncio.Event | None,
        generation: int,
    ) -> bool:
        """Park the message on the DLQ (retrying the send); False if halted first."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            try:
                await loop.run_in_executor(
                    self._send_threads,
                    send_to_dlq,
                    self._producer,
                    self.dlq_topic,
                    msg,
                    reason,
                    message,
                    attempts,
                )
                break
            except Exception as exc:  # noqa: BLE001 - the DLQ send is retried like Temporal
                self.stats.retries += 1
                self.metrics.retries.inc()
                log.warning("DLQ send failed (attempt %d): %s", attempt, exc)
                await _sleep_or_stop(self.backoff.delay(attempt), stop)
                if self._halted(stop, generation):
                    return False
        self.stats.dead_lettered += 1
        self.metrics.commands.labels(label, "dead_lettered").inc()
        self.metrics.dead_letters.labels(reason).inc()
        log.warning(
            "dead-lettered %s[%d]@%d type=%s reason=%s: %s",
            msg.topic,
            msg.partition,
            msg.offset,
            label,
            reason,
            message[:300],
        )
        return True

    async def _kafka(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a consumer call on the ingress's one Kafka thread (the client is not thread-safe)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._kafka_thread, fn, *args)


def _latency(msg: ConsumerRecord, cmd: ParsedCommand) -> float:
    """Seconds from the CloudEvent ``time`` (or the Kafka timestamp) until now."""
    now = datetime.now(UTC).timestamp()
    sent = cmd.event.time
    if sent is not None:
        start = sent.timestamp() if sent.tzinfo else sent.replace(tzinfo=UTC).timestamp()
    else:
        start = (msg.timestamp or 0) / 1000 or now
    return max(0.0, now - start)


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


# ---------------------------------------------------------------------- process
async def serve(settings: Any = None) -> None:
    """Run the ingress process: wait for Temporal and Kafka, serve /metrics, stop on signals."""
    from tierflow.health import serve_metrics_and_health
    from tierflow.settings import get_settings
    from tierflow.tls import kafka_security_kwargs
    from workers.runtime import configure_logging, connect_kafka, connect_temporal

    settings = settings or get_settings()
    configure_logging()
    registry = CollectorRegistry()
    holder: dict[str, Ingress] = {}
    health = serve_metrics_and_health(
        settings.ingress_metrics_port,
        registry,
        lambda: "i" in holder and holder["i"].ready,
        host=settings.metrics_host,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        client = await connect_temporal(
            settings.temporal_address, settings.temporal_namespace, settings=settings
        )
        producer = await asyncio.to_thread(
            lambda: connect_kafka(settings.kafka_bootstrap_servers, settings=settings)
        )
        ingress = Ingress(
            client,
            settings.kafka_bootstrap_servers,
            task_queue=settings.task_queue,
            commands_topic=settings.commands_topic,
            dlq_topic=settings.dead_letter_topic,
            group_id=settings.ingress_group,
            registry=registry,
            producer=producer,
            consumer_config=kafka_security_kwargs(settings),
            backoff=Backoff(not_found_seconds=settings.ingress_not_found_seconds),
            max_in_flight=settings.ingress_max_in_flight,
            max_records=settings.ingress_max_poll_records,
            max_pending=settings.ingress_max_pending,
        )
        holder["i"] = ingress
        await ingress.run(stop)
        producer.close(timeout=5)
    finally:
        health.close()


def main() -> None:
    asyncio.run(serve())


def _unstick_parked_partitions(consumer: Any) -> None:
    """Work around kafka-python 3.0.12 leaving parked partitions unfetched after a backlog.

    Its fetcher hands parked records back only when its in-line slot is None, but after a
    drained poll the slot holds an empty object, so those partitions are never read again
    (tests/chaos: test_ingress_drains_a_backlog_in_one_partition). kafka-python is pinned
    to the version this was checked against.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    slot = getattr(fetcher, "_next_partition_records", None)
    if fetcher is not None and slot is not None and not slot:
        fetcher._next_partition_records = None


def _known_position(consumer: Any, tp: TopicPartition) -> int | None:
    """The partition's fetch position if the client holds one, without asking the broker.

    ``KafkaConsumer.position`` would first refresh committed offsets over the network;
    kafka-python has no public non-blocking accessor, so this reads its subscription state.
    """
    state = getattr(consumer, "_subscription", None)
    if state is None or not state.has_valid_position(tp):
        return None
    position = state.position(tp)
    return getattr(position, "offset", position)
