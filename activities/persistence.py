"""The database half of ``record_transitions``: the read model and audit trail."""

from __future__ import annotations

from sqlalchemy import Engine

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
        with begin_write(self.engine) as conn:
            first = [record for record in records if apply_transition(conn, record)]
        if self.metrics is not None:
            for record in first:  # counted after the commit: retries and replays count once
                self.metrics.observe_first_write(record)
        return len(first)
