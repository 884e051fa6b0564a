"""The database half of ``record_transitions``: the read model and audit trail."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlmodel import col, select

from activities.failures import is_permanent, permanent_failure
from schemas.lifecycle import TransitionRecord
from tierflow.db.engine import begin_write
from tierflow.db.models import Transition
from tierflow.db.projection import (
    newest_by_request,
    record_transition,
    record_transitions,
    write_summary,
)
from tierflow.metrics import WorkerMetrics


@contextlib.contextmanager
def _naming(record: TransitionRecord) -> Iterator[None]:
    """A permanent failure rolls the batch back and names the record at fault."""
    try:
        yield
    except Exception as exc:
        if is_permanent(exc):
            raise permanent_failure("record_transitions", exc, record.event_id) from None
        raise


def _write_summaries(conn: Connection, recorded: list[TransitionRecord]) -> None:
    for newest, submission, first_holder in newest_by_request(recorded):
        with _naming(newest):
            write_summary(conn, newest, submission, first_holder)


class TransitionWriter:
    """Holds the database engine so a worker opens its pool once."""

    def __init__(self, engine: Engine, metrics: WorkerMetrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics

    def persist(self, records: list[TransitionRecord]) -> int:
        """Write the records in one transaction; return how many were new."""
        return len(self.persist_new(records))

    def persist_new(self, records: list[TransitionRecord]) -> list[TransitionRecord]:
        """Write the records in one transaction; return those this call wrote first.

        Each request's summary row is written once, from its newest new record. The audit rows
        go in as one statement; if that transaction fails for good, the records are written
        again one by one, which names the record at fault (the batch cannot say which).
        """
        try:
            with begin_write(self.engine) as conn:
                first = record_transitions(conn, records)
                _write_summaries(conn, first)
        except Exception as exc:
            if not is_permanent(exc):
                raise
            with begin_write(self.engine) as conn:
                first = []
                for record in records:
                    with _naming(record):
                        if record_transition(conn, record):
                            first.append(record)
                _write_summaries(conn, first)
        if self.metrics is not None:
            for record in first:  # counted after the commit: retries and replays count once
                self.metrics.observe_first_write(record)
        return first

    def recorded_at(self, event_ids: list[str]) -> dict[str, datetime]:
        """When the rows of these events were written (ids without a row are left out)."""
        query = select(Transition.event_id, Transition.recorded_at).where(
            col(Transition.event_id).in_(event_ids)
        )
        with self.engine.connect() as conn:
            return {row.event_id: row.recorded_at for row in conn.execute(query)}
