"""The database half of ``record_transitions``: the read model and audit trail."""

from __future__ import annotations

from sqlalchemy import Engine

from activities.failures import is_permanent, permanent_failure
from schemas.lifecycle import TransitionRecord
from tierflow.db.engine import begin_write
from tierflow.db.projection import apply_transition
from tierflow.metrics import WorkerMetrics


class TransitionWriter:
    """Holds the database engine so a worker opens its pool once."""

    def __init__(self, engine: Engine, metrics: WorkerMetrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics

    def persist(self, records: list[TransitionRecord]) -> int:
        """Write the records in one transaction; return how many were new."""
        first = []
        with begin_write(self.engine) as conn:
            for record in records:
                try:
                    if apply_transition(conn, record):
                        first.append(record)
                except Exception as exc:
                    if is_permanent(exc):  # rolls the batch back; names the record at fault
                        raise permanent_failure(
                            "record_transitions", exc, record.event_id
                        ) from None
                    raise
        if self.metrics is not None:
            for record in first:  # counted after the commit: retries and replays count once
                self.metrics.observe_first_write(record)
        return len(first)
