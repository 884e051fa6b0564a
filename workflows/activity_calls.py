"""How the workflow calls its activities: lookups as local activities, records via an outbox.

Workflow code (deterministic): it only schedules activities by name, so the workflow never
imports the activities' clients.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from schemas.lifecycle import TransitionBatch, TransitionRecord
from workflows.versions import Versions

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
OUTBOX_BATCH = 50  # records per record_transitions call at most
# JSON bytes per call at most (one record may exceed it alone): far below the 2 MB payload limit
OUTBOX_BATCH_BYTES = 256 * 1024
# Runs from before batches were sized by bytes replay their larger batches unchanged.
BATCH_BYTES_PATCH = "outbox-batch-bytes"
# The outbox records as a local activity (one history event instead of an activity's three and
# the workflow task after them); runs started before replay their activities unchanged.
LOCAL_OUTBOX_PATCH = "outbox-local-activity"


class StepFailed(Exception):
    """An activity failed permanently (non-retryable): the request waits for an operator.

    Internal to the workflow: it never escapes workflow code.
    """

    def __init__(self, step: str, failure: ApplicationError, event_ids: list[str]) -> None:
        super().__init__(failure.message)
        self.step = step
        self.failure = failure
        self.event_ids = event_ids


def permanent_cause(err: ActivityError | ApplicationError) -> ApplicationError | None:
    """Return the non-retryable ApplicationError behind an activity failure, if that is it.

    A local activity's failure arrives as the ApplicationError itself, an activity's wrapped
    in an ActivityError.
    """
    cause = err if isinstance(err, ApplicationError) else err.cause
    return cause if isinstance(cause, ApplicationError) and cause.non_retryable else None


class OneAtATime:
    """Keeps a run's local activities one at a time (runs of ``ServiceRequestV4`` on).

    Two in flight at once (an update's lookup while the outbox records) could resolve in the
    same workflow task; the SDK resumes their coroutines in completion order when it runs
    them and in sequence order when it replays them, so the commands after them could come in
    another order on replay: a nondeterminism error that wedges the request. Older types'
    histories may hold such overlaps and replay as they ran (``on`` False).
    """

    def __init__(self, on: bool) -> None:
        self.on = on
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for the run's other local activity, if one is in flight, then go."""
        if not self.on:
            yield
            return
        async with self._lock:
            yield


async def lookup(activity: str, arg: object, result_type: type, one: OneAtATime) -> Any:
    """Run a read-only lookup as a local activity; raise StepFailed if it fails permanently."""
    try:
        async with one.turn():
            return await workflow.execute_local_activity(
                activity,
                arg,
                result_type=result_type,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
    except (ActivityError, ApplicationError) as err:
        cause = permanent_cause(err)
        if cause is None:
            raise
        raise StepFailed(activity, cause, []) from err


def next_batch(pending: list[TransitionRecord]) -> list[TransitionRecord]:
    """Return the first records that fit one call: at most OUTBOX_BATCH and OUTBOX_BATCH_BYTES."""
    batch: list[TransitionRecord] = []
    size = 0
    for record in pending[:OUTBOX_BATCH]:
        size += len(record.model_dump_json())
        if batch and size > OUTBOX_BATCH_BYTES:
            break
        batch.append(record)
    return batch


async def record(batch: list[TransitionRecord], versions: Versions, one: OneAtATime) -> int:
    """Persist, then publish, one batch (``record_transitions``, idempotent by event id)."""
    local = versions.taken(LOCAL_OUTBOX_PATCH)
    execute = workflow.execute_local_activity if local else workflow.execute_activity
    async with one.turn() if local else contextlib.nullcontext():
        return await execute(
            "record_transitions",
            TransitionBatch(records=batch),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            result_type=int,
        )


class Outbox:
    """Transition records waiting, in order, to be persisted and then published.

    ``persisted`` is the sequence of the last record both persisted and published: an update
    answers once it reaches the update's last record. ``blocked`` is set when a call failed
    permanently: nothing more is sent until an operator retries or resolves it.
    """

    def __init__(self, persisted: int, versions: Versions, one: OneAtATime) -> None:
        self.pending: list[TransitionRecord] = []
        self.persisted = persisted
        self.one = one
        self.blocked: StepFailed | None = None
        self.versions = versions

    def __bool__(self) -> bool:
        return bool(self.pending)

    @property
    def ready(self) -> bool:
        """Records wait and may be sent now."""
        return bool(self.pending) and self.blocked is None

    def append(self, record: TransitionRecord) -> None:
        self.pending.append(record)

    async def drain(self, after_batch: Callable[[], None]) -> None:
        """Send the records in batches of one ``record_transitions`` call; retries until done.

        A permanent failure sets ``blocked`` (naming the record at fault if the activity knew
        it, else the whole batch) and stops.
        """
        while self.pending and self.blocked is None:
            batch = next_batch(self.pending)
            if len(batch) < len(self.pending[:OUTBOX_BATCH]) and not self.versions.taken(
                BATCH_BYTES_PATCH
            ):
                batch = self.pending[:OUTBOX_BATCH]  # recorded before the byte limit
            try:
                await record(batch, self.versions, self.one)
            except (ActivityError, ApplicationError) as err:
                cause = permanent_cause(err)
                if cause is None:
                    raise
                ids = [r.event_id for r in batch]
                named = [str(d) for d in cause.details if str(d) in ids]
                self.blocked = StepFailed("record_transitions", cause, named or ids)
                return
            del self.pending[: len(batch)]
            self.persisted = batch[-1].sequence
            after_batch()

    async def send_alone(self, alone: TransitionRecord) -> None:
        """Send one record ahead of a blocked queue (it goes again, deduplicated, later)."""
        try:
            await record([alone], self.versions, self.one)
        except (ActivityError, ApplicationError) as err:
            if permanent_cause(err) is None:
                raise

    def withhold(self, event_ids: list[str], note: str) -> None:
        """Replace the caller content of these pending records by a note (operator resolve)."""
        self.pending = [
            r.model_copy(update={"reason": None, "details": {"withheld": note}, "request": None})
            if r.event_id in event_ids
            else r
            for r in self.pending
        ]
