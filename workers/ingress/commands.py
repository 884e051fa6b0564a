"""Run one decoded command against Temporal until its answer is final.

Transient failures are retried with capped exponential backoff; an action for a request
whose workflow does not exist yet is retried within a bounded budget, then dead-lettered.
A command holds a Temporal-call slot only while its call runs, never while it waits, so
any number of waiting commands cannot hold up the other requests. Retries may take at most
three quarters of the slots: a command's first attempt never queues behind a crowd of
retries for requests that do not exist yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, wait_exponential

from schemas.dlq import DeadLetterReason
from schemas.events import ParsedCommand
from schemas.lifecycle import Wording
from schemas.messages import N_, Said
from tierflow.submission import Recorded
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
    not_found_attempts: int | None = None  # a cap on the tries too (None: the seconds decide)

    def delay(self, attempt: int) -> float:
        return min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))

    def gives_up(self, waited: float, attempt: int) -> bool:
        """Whether an action whose request was not found for ``waited`` seconds, at its
        ``attempt``-th try, is dead-lettered now: ``TIERFLOW_INGRESS_NOT_FOUND_SECONDS`` is the
        whole budget (a fixed count of tries cut a 600 s setting to about 4 minutes)."""
        capped = self.not_found_attempts is not None and attempt >= self.not_found_attempts
        return waited >= self.not_found_seconds or capped


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
        recorded: Recorded,
    ) -> None:
        self.client = client
        self.recorded = recorded
        self.task_queue = task_queue
        self.metrics = metrics
        self.stats = stats
        self.backoff = backoff
        self.rpc_timeout = rpc_timeout
        self._slots = asyncio.Semaphore(max_in_flight)
        self._retry_slots = asyncio.Semaphore(max(1, max_in_flight - max_in_flight // 4))

    async def run(
        self, cmd: ParsedCommand, stop: asyncio.Event, halted: Callable[[], bool]
    ) -> tuple[Outcome, int] | None:
        """Return the final outcome and the attempts it took; None if ``halted()`` first."""
        first_not_found = 0.0  # when the workflow was first found missing
        retried = False

        def out_of_budget(state: RetryCallState) -> bool:
            nonlocal first_not_found
            outcome: Outcome = state.outcome.result()  # type: ignore[union-attr]
            if outcome.verdict is not Verdict.NOT_FOUND:
                return False
            first_not_found = first_not_found or time.monotonic()
            waited = time.monotonic() - first_not_found
            return self.backoff.gives_up(waited, state.attempt_number)

        def log_retry(state: RetryCallState) -> None:
            nonlocal retried
            if not retried:
                retried = True
                self._retrying(+1)
            self.stats.retries += 1
            self.metrics.retries.inc()
            outcome: Outcome = state.outcome.result()  # type: ignore[union-attr]
            log.info(
                "retrying %s %s for %s in %.1f s (attempt %d): %s",
                cmd.command,
                cmd.event.id,
                cmd.request_id,
                state.upcoming_sleep,
                state.attempt_number,
                outcome.message,
            )

        retrying = AsyncRetrying(
            retry=retry_if_result(lambda o: o.verdict in (Verdict.RETRY, Verdict.NOT_FOUND)),
            wait=wait_exponential(
                multiplier=self.backoff.initial,
                exp_base=self.backoff.multiplier,
                max=self.backoff.maximum,
            ),
            stop=lambda state: halted() or out_of_budget(state),
            sleep=lambda seconds: sleep_unless_stopped(seconds, stop),
            before_sleep=log_retry,
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )
        calls = 0

        async def call() -> Outcome:
            nonlocal calls
            calls += 1
            return await self._call(cmd, halted, retry=calls > 1)

        try:
            outcome: Outcome = await retrying(call)
        finally:
            if retried:
                self._retrying(-1)
        attempts = retrying.statistics.get("attempt_number", 1)
        if outcome.verdict in (Verdict.RETRY, Verdict.NOT_FOUND) and halted():
            return None
        if outcome.verdict is Verdict.NOT_FOUND:
            said = Said(
                N_("no workflow for request %(id)s after %(attempts)d attempts in %(seconds)d s"),
                id=cmd.request_id,
                attempts=attempts,
                seconds=round(time.monotonic() - first_not_found),
            )
            unknown = DeadLetterReason.UNKNOWN_REQUEST
            return Outcome(Verdict.DEAD_LETTER, unknown, said, Wording.of(said)), attempts
        return outcome, attempts

    def _retrying(self, change: int) -> None:
        self.stats.retrying += change
        self.metrics.retrying.inc(change)

    async def _call(
        self, cmd: ParsedCommand, halted: Callable[[], bool], *, retry: bool
    ) -> Outcome:
        if halted():  # woken from a backoff by a stop: no call, the retry loop ends
            return Outcome(Verdict.RETRY, message="halted")
        if retry:
            async with self._retry_slots, self._slots:
                return await self._apply(cmd)
        async with self._slots:
            return await self._apply(cmd)

    async def _apply(self, cmd: ParsedCommand) -> Outcome:
        return await apply_command(
            self.client, cmd, self.task_queue, self.rpc_timeout, self.recorded
        )


async def sleep_unless_stopped(seconds: float, stop: asyncio.Event) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
