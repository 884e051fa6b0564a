"""Park records on the dead-letter topic from the ingress's event loop, retrying what a retry
can cure.

The copy itself (any record, made sendable) is ``tierflow.dead_letter``; this module adds the
ingress's backoff, stop and metrics around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from tierflow.dead_letter import PERMANENT_ERRORS, DeadLetter, send
from workers.ingress.commands import Backoff, sleep_unless_stopped
from workers.ingress.metrics import IngressMetrics, IngressStats

log = logging.getLogger("tierflow.ingress")


class DeadLetterQueue:
    """Parks records on the dead-letter topic, retrying what a retry can cure."""

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        backoff: Backoff,
        metrics: IngressMetrics,
        stats: IngressStats,
        executor: Executor,
    ) -> None:
        self.producer, self.topic, self.backoff = producer, topic, backoff
        self.metrics, self.stats, self.executor = metrics, stats, executor

    async def park(
        self,
        record: ConsumerRecord,
        why: DeadLetter,
        label: str,
        stop: asyncio.Event,
        halted: Callable[[], bool],
        topic: str | None = None,
    ) -> bool:
        """Park ``record`` (on ``topic``, a client's own, else the shared one); False if
        ``halted()`` while the broker was unreachable."""
        loop = asyncio.get_running_loop()
        topic = topic or self.topic

        def count_retry(state: RetryCallState) -> None:
            self.stats.retries += 1
            self.metrics.retries.inc()
            log.warning("DLQ send failed (attempt %d): %s", state.attempt_number, state.outcome)

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: not isinstance(exc, PERMANENT_ERRORS)),
            wait=wait_exponential(
                multiplier=self.backoff.initial,
                exp_base=self.backoff.multiplier,
                max=self.backoff.maximum,
            ),
            stop=lambda _: halted(),
            sleep=lambda seconds: sleep_unless_stopped(seconds, stop),
            before_sleep=count_retry,
            reraise=True,
        )

        async def attempt() -> bool:  # a coroutine function: tenacity awaits only those
            return await loop.run_in_executor(
                self.executor, send, self.producer, topic, record, why
            )

        try:
            await retrying(attempt)
        except PERMANENT_ERRORS as exc:
            self.metrics.dead_letter_failures.inc()
            log.error(
                "the DLQ refused even a minimal copy of %s[%d]@%d (%s: %s); passing it",
                record.topic,
                record.partition,
                record.offset,
                type(exc).__name__,
                exc,
            )
            return True  # passed, not parked: counted as a failure only
        except Exception:  # noqa: BLE001 - still failing when halted: redelivered later
            if halted():
                return False
            raise
        self.stats.dead_lettered += 1
        self.metrics.commands.labels(label, "dead_lettered").inc()
        self.metrics.dead_letters.labels(str(why.reason)).inc()
        log.warning(
            "dead-lettered %s[%d]@%d type=%s reason=%s: %s",
            record.topic,
            record.partition,
            record.offset,
            label,
            why.reason,
            why.message[:300],
        )
        return True
