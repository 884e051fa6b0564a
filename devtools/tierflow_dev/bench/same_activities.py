"""The project's own activities, for the bare baseline to run on the same inputs.

Issue 24 compares tierflow with "a bare workflow running the same activities". One
calibration lifecycle runs through the project's worker with ``NoteLocalActivities``, which
notes the input of each local activity in order. The bare workflow then calls
``bench_admit`` and ``bench_record`` at the same points of its lifecycle; they hand the noted
input to the real ``admit_request`` and ``record_transitions``, with the request and event ids
made the bare run's own (so every row and event is new, as the project's are). The ratio then
isolates what the project's workflow costs beyond its activities; ``--bare noop`` keeps the
stricter baseline of no-op activities.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from schemas.lifecycle import Admission, AdmitRequest, TransitionBatch

# the project's local activities the baseline repeats, and the bench activity that does
REPEATS = {"admit_request": "bench_admit", "record_transitions": "bench_record"}
_INPUTS: dict[str, TypeAdapter[Any]] = {
    "admit_request": TypeAdapter(AdmitRequest),
    "record_transitions": TypeAdapter(TransitionBatch),
}


@dataclass(frozen=True)
class Slot:
    """One local activity of the calibration lifecycle: its name and its input."""

    name: str
    value: Any


class NoteLocalActivities(Interceptor):
    """Notes the inputs of one workflow's local activities, in the order they ran."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.slots: list[Slot] = []

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Noting(next, self)


class _Noting(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, notes: NoteLocalActivities) -> None:
        super().__init__(next)
        self.notes = notes

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.is_local and info.workflow_id == self.notes.workflow_id:
            self.notes.slots.append(Slot(info.activity_type, input.args[0]))
        return await super().execute_activity(input)


def bench_names(slots: list[Slot]) -> list[str]:
    """The bench activities that repeat ``slots``, in order (the bare workflow's calls)."""
    unknown = sorted({slot.name for slot in slots} - REPEATS.keys())
    if unknown:
        raise RuntimeError(
            f"the calibration lifecycle ran {unknown}; the baseline repeats only {sorted(REPEATS)}"
        )
    return [REPEATS[slot.name] for slot in slots]


def save(slots: list[Slot], path: Path) -> None:
    """Write the slots for bare worker processes (``load`` reads them back)."""
    rows = [
        {"name": s.name, "value": _INPUTS[s.name].dump_python(s.value, mode="json")} for s in slots
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")


def load(path: Path) -> list[Slot]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [Slot(row["name"], _INPUTS[row["name"]].validate_python(row["value"])) for row in rows]


def as_run(batch: TransitionBatch, request_id: str) -> TransitionBatch:
    """The batch as the bare run ``request_id`` would write it: its own request and event ids."""

    def own(action_id: str | None) -> str | None:
        if action_id is None:
            return None
        return "b-" + hashlib.sha1(f"{request_id}/{action_id}".encode()).hexdigest()[:32]

    records = [
        record.model_copy(
            update={
                "request_id": request_id,
                "event_id": f"{request_id}:{record.sequence}",
                "action_id": own(record.action_id),
                "summary": record.summary.model_copy(update={"request_id": request_id}),
                "request": record.request
                and record.request.model_copy(update={"request_id": request_id}),
            }
        )
        for record in batch.records
    ]
    return TransitionBatch(records=records)


class SameActivities:
    """``bench_admit`` and ``bench_record``: the real activities on the noted inputs."""

    def __init__(self, real: list[Callable[..., Any]], slots: list[Slot]) -> None:
        by_name = {activity._Definition.must_from_callable(fn).name: fn for fn in real}
        self._admit = by_name["admit_request"]
        self._record = by_name["record_transitions"]
        self.slots = slots

    @activity.defn(name="bench_admit")
    async def admit(self, run_id: str, slot: int) -> Admission:
        """Admit the calibration request again (policy pinned, first tier routed)."""
        admitted: Admission = await self._admit(self.slots[slot].value)
        return admitted

    @activity.defn(name="bench_record")
    def record(self, run_id: str, slot: int) -> int:
        """Persist and publish the calibration batch as the run ``run_id``'s own records."""
        written: int = self._record(as_run(self.slots[slot].value, run_id))
        return written
