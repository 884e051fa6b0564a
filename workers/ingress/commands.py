"""Run one decoded command against Temporal until its answer is final.

Transient failures are retried with capped exponential backoff; an action for a request
whose workflow does not exist yet is retried within a bounded budget, then dead-lettered.
A command holds a Temporal-call slot only while its call runs, never while it waits, so
any number of waiting commands cannot hold up the other requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client

from schemas.dlq import DeadLetterReason
from schemas.events import ParsedCommand
from workers.ingress.metrics import IngressMetrics, IngressStats
from workers.ingress.temporal_calls import Outcome, Verdict, apply_command

log = logging.getLogger("tierflow.ingress")


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


class CommandRunner:
    """Make a command's idempotent Temporal call, retrying until the answer is final."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        metrics: IngressMetrics,
        stats: IngressStats,
        *,
        backoff: Backoff,
        rpc_timeout: timedelta,
        max_in_flight: int,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.metrics = metrics
        self.stats = stats
        self.backoff = backoff
        self.rpc_timeout = rpc_timeout
        self._slots = asyncio.Semaphore(max_in_flight)

    async def run(
        self, cmd: ParsedCommand, stop: asyncio.Event, halted: Callable[[], bool]
    ) -> tuple[Outcome, int] | None:
        """Return the final outcome and the attempts it took; None if ``halted()`` first."""
        attempt, not_found_tries, not_found_since = 0, 0, 0.0
        while True:
            attempt += 1
            async with self._slots:
                outcome = await apply_command(self.client, cmd, self.task_queue, self.rpc_timeout)
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
                    dead = Outcome(Verdict.DEAD_LETTER, DeadLetterReason.UNKNOWN_REQUEST, message)
                    return dead, attempt
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
            await sleep_unless_stopped(delay, stop)
            if halted():
                return None


async def sleep_unless_stopped(seconds: float, stop: asyncio.Event) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
