"""The notifier's health during a database outage: degraded only once the sender has stood
still as long as a stuck sender does, so a short outage restarts no pod (a restart would not
bring the database back)."""

from __future__ import annotations

from pathlib import Path

from tierflow.db.engine import make_engine
from tierflow.partition_progress import Health, Partitions
from workers.notifier.health import check


def test_a_database_outage_degrades_the_notifier_only_after_the_stall_time(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}")  # a directory: no database opens there
    partitions = Partitions(stall_seconds=60)  # nothing assigned: the consumer is fine
    try:
        fine = partitions.health()
        short = check(fine, engine, sender_idle=lambda: 30.0, send_stall_seconds=300)
        long = check(fine, engine, sender_idle=lambda: 301.0, send_stall_seconds=300)
    finally:
        engine.dispose()
    assert (short.status, short.sender["database"]) == ("ok", "unreachable")
    assert long.status == "degraded"


def test_without_a_consumer_it_is_starting_until_one_was_lost(tmp_path: Path) -> None:
    """No consumer yet: starting (alive: the liveness probe lets it wait for Kafka). One lost
    and not replaced, or a stalled sender: degraded (the probe restarts it)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    try:
        starting, gone = Health("starting"), Health("degraded")  # as EventConsumer.health says
        first = check(starting, engine, sender_idle=lambda: 1.0, send_stall_seconds=300)
        lost = check(gone, engine, lambda: 1.0, 300)
        stalled = check(starting, engine, sender_idle=lambda: 301.0, send_stall_seconds=300)
    finally:
        engine.dispose()
    assert (first.status, lost.status, stalled.status) == ("starting", "degraded", "degraded")
