"""How the workflow calls its activities: lookups as local activities, records via an outbox.

Workflow code (deterministic): it only schedules activities by name, so the workflow never
imports the activities' clients.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from schemas.lifecycle import TransitionBatch, TransitionRecord

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
OUTBOX_BATCH = 50  # records per record_transitions call; keeps payloads far below 2 MB


async def lookup(activity: str, arg: object, result_type: type) -> Any:
    """Run a read-only lookup as a local activity: no server round trip."""
    return await workflow.execute_local_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=ACTIVITY_RETRY,
    )


class Outbox:
    """Transition records waiting, in order, to be persisted and then published.

    ``persisted`` is the sequence of the last record both persisted and published: an update
    answers once it reaches the update's last record.
    """

    def __init__(self, persisted: int) -> None:
        self.pending: list[TransitionRecord] = []
        self.persisted = persisted

    def __bool__(self) -> bool:
        return bool(self.pending)

    def append(self, record: TransitionRecord) -> None:
        self.pending.append(record)

    async def drain(self, after_batch: Callable[[], None]) -> None:
        """Send the records in batches of one ``record_transitions`` call; retries until done."""
        while self.pending:
            batch = self.pending[:OUTBOX_BATCH]
            await workflow.execute_activity(
                "record_transitions",
                TransitionBatch(records=batch),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                result_type=int,
            )
            del self.pending[: len(batch)]
            self.persisted = batch[-1].sequence
            after_batch()
