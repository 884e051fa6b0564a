"""What the notifier's ``/healthz`` and its backlog gauges say.

Two things can stand still: the event consumer (a partition with events waiting whose
committed offset does not move: ``tierflow.partition_progress``) and the sender (messages due
while it has not finished a send attempt, nor found nothing to claim, for a while: hung behind
one endpoint, or gone). The backlog is read from the database, where every notifier process
claims from; a failed attempt reschedules a message, so it falls due afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from tierflow.db.notification_models import DeliveryStatus, Notification
from tierflow.metrics import ScrapeRead, read_model_up
from tierflow.partition_progress import Health


@dataclass(frozen=True)
class Backlog:
    """Messages due now and not sent yet, and how long the oldest has been due."""

    due: int
    oldest_seconds: float


def sender_backlog(engine: Engine, now: datetime | None = None) -> Backlog:
    """Read the backlog: pending single messages past ``not_before`` (being sent or not).

    Digest entries are left out: they wait for their digest on purpose.
    """
    now = now or datetime.now(UTC)
    query = select(func.count(), func.min(Notification.not_before)).where(
        Notification.status == DeliveryStatus.PENDING,
        col(Notification.digest).is_(False),
        col(Notification.not_before) <= now,
    )
    with Session(engine) as session:
        count, oldest = session.exec(query).one()
    if not count or oldest is None:
        return Backlog(0, 0.0)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return Backlog(int(count), max(0.0, (now - oldest).total_seconds()))


@dataclass(frozen=True)
class NotifierHealth:
    """``ok``, ``starting``, or ``degraded`` (a partition or the sender stands still)."""

    status: str
    partitions: dict[str, dict[str, float]] = field(default_factory=dict)
    sender: dict[str, float | str] = field(default_factory=dict)


def check(
    consumer: Health,
    engine: Engine,
    sender_idle: Callable[[], float],
    send_stall_seconds: float,
) -> NotifierHealth:
    """Say how the consumer (its own ``health()``: ``starting`` before the first one exists)
    and the sender are doing; ``sender_idle`` gives the seconds since the sender last
    finished an attempt or found nothing due."""
    idle = sender_idle()
    try:
        backlog = sender_backlog(engine)
        sender: dict[str, float | str] = {
            "due": float(backlog.due),
            "oldest_due_seconds": backlog.oldest_seconds,
            "idle_seconds": idle,
        }
        sender_stalled = backlog.due > 0 and idle > send_stall_seconds
    except SQLAlchemyError:  # a database outage: degraded once the sender stood still as long
        # as a stuck one does, not at once (a restart would not bring the database back)
        sender = {"database": "unreachable", "idle_seconds": idle}
        sender_stalled = idle > send_stall_seconds
    if consumer.status == "starting" and not sender_stalled:
        return NotifierHealth("starting", sender=sender)
    status = "degraded" if sender_stalled or not consumer.ok else "ok"
    return NotifierHealth(status, consumer.partitions, sender)


class BacklogGauges(Collector):
    """``tierflow_notifier_due_messages`` and ``tierflow_notifier_oldest_due_seconds``, read
    from the database at each scrape (nothing when it cannot be read)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.engine: Engine | None = None  # set by the process once it has one
        self._read = ScrapeRead(self._backlog)
        registry.register(self)

    def _backlog(self) -> Backlog:
        assert self.engine is not None
        return sender_backlog(self.engine)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        due = GaugeMetricFamily(
            "tierflow_notifier_due_messages",
            "Messages due now (mail, webhook, SMS) and not sent yet",
        )
        oldest = GaugeMetricFamily(
            "tierflow_notifier_oldest_due_seconds",
            "How long the oldest of them has been due (a failed attempt makes it due afresh)",
        )
        if self.engine is not None:
            try:
                backlog = self._read()
            except Exception:  # noqa: BLE001 - a scrape must not fail because the DB blinked
                yield read_model_up(False)
                return
            yield read_model_up(True)
            due.add_metric([], backlog.due)
            oldest.add_metric([], backlog.oldest_seconds)
        yield due
        yield oldest
