"""Business and plumbing metrics, on a registry the caller owns (tests use a fresh one).

Counters that follow lifecycle events are bumped only when ``record_transitions`` wrote the
event for the first time, so activity retries and workflow replays never count twice.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from schemas.domain import OPEN_STATES, TERMINAL_STATES, Category, ClockKind, Priority, Tier
from schemas.lifecycle import EventType, TransitionRecord
from tierflow import assessment
from tierflow.db.models import ServiceRequest

BUSINESS_SECONDS_BUCKETS = (
    900,
    1800,
    3600,
    7200,
    4 * 3600,
    8 * 3600,
    16 * 3600,
    24 * 3600,
    40 * 3600,
    80 * 3600,
    160 * 3600,
)
# The activities whose permanent failure holds a request for an operator.
OPERATOR_STEPS = ("load_policy", "resolve_institution", "record_transitions")


def process_registry() -> CollectorRegistry:
    """A process's registry, with the process's own figures (``process_start_time_seconds``,
    CPU, memory): a restart shows there even where the orchestrator's metrics are not
    scraped, and a liveness restart resets the stall gauges an alert would have read."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


OUTCOMES = {
    EventType.SUBMITTED: "submitted",
    EventType.RESOLVED: "resolved",
    EventType.CLOSED: "closed",
    EventType.WITHDRAWN: "withdrawn",
    EventType.REJECTED: "rejected",
}


class WorkerMetrics:
    """Metrics the worker derives from lifecycle transitions and its own plumbing."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.transitions = Counter(
            "tierflow_transitions_total",
            "Lifecycle events recorded (first write only)",
            ["event_type", "tier"],
            registry=registry,
        )
        self.requests = Counter(
            "tierflow_requests_total",
            "Requests by outcome (submitted, resolved, closed, ...)",
            ["outcome", "category", "priority", "tier"],
            registry=registry,
        )
        self.escalations = Counter(
            "tierflow_escalations_total",
            "Escalations between tiers, by cause (breach/manual) and reason code",
            ["from_tier", "to_tier", "reason", "code"],
            registry=registry,
        )
        self.sla_warnings = Counter(
            "tierflow_sla_warnings_total",
            "SLA warnings before breach",
            ["clock", "tier"],
            registry=registry,
        )
        self.sla_breaches = Counter(
            "tierflow_sla_breaches_total",
            "SLA breaches",
            ["clock", "tier"],
            registry=registry,
        )
        self.supervisor_alerts = Counter(
            "tierflow_supervisor_alerts_total",
            "Supervisor alerts: a breach or an escalation with no tier above, or a breach "
            "under supervise_in_place",
            registry=registry,
        )
        self.operator_holds = Counter(
            "tierflow_operator_holds_total",
            "Steps that failed permanently and put a request on hold for an operator",
            ["step"],
            registry=registry,
        )
        self.ratings = Histogram(
            "tierflow_satisfaction_rating",
            "Satisfaction ratings (1-5)",
            ["category"],
            buckets=(1, 2, 3, 4, 5),
            registry=registry,
        )
        self.response_time = Histogram(
            "tierflow_time_to_first_response_business_seconds",
            "Business seconds from assignment at a tier to acknowledgement",
            ["category", "tier"],
            buckets=BUSINESS_SECONDS_BUCKETS,
            registry=registry,
        )
        self.resolution_time = Histogram(
            "tierflow_time_to_resolution_business_seconds",
            "Business seconds of resolution clock used at the resolving tier",
            ["category", "tier"],
            buckets=BUSINESS_SECONDS_BUCKETS,
            registry=registry,
        )
        self.events_published = Counter(
            "tierflow_events_published_total",
            "Lifecycle events sent to Kafka",
            ["event_type"],
            registry=registry,
        )
        self.publish_errors = Counter(
            "tierflow_event_publish_errors_total",
            "Failed attempts to publish an event",
            registry=registry,
        )
        self.events_already_sent = Counter(
            "tierflow_events_already_sent_total",
            "Events of a re-executed outbox batch not sent again: an earlier send landed "
            "(known by this process, or read back from the topic)",
            ["how"],
            registry=registry,
        )
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        """Create the SLA series at 0 so ``increase()`` sees the first breach after a restart,
        and the resolutions the breach share divides by (a new pod's first resolution of each
        kind would be unseen, and its breaches a share of 100%)."""
        for step in OPERATOR_STEPS:
            self.operator_holds.labels(step)
        for category, priority, tier in itertools.product(Category, Priority, Tier):
            self.requests.labels("resolved", category.value, priority.value, tier.value)
        for tier in Tier:
            for clock in ClockKind:
                self.sla_warnings.labels(clock.value, tier.value)
                self.sla_breaches.labels(clock.value, tier.value)
            upper = tier.next_up()
            if upper is not None:
                self.escalations.labels(tier.value, upper.value, "breach", "sla_breach")
                self.escalations.labels(tier.value, upper.value, "manual", "other")

    def observe_first_write(self, record: TransitionRecord) -> None:
        """Count one lifecycle event; call only when its event id was written the first time."""
        tier = record.to_tier.value
        category = record.summary.category.value
        self.transitions.labels(record.event_type.value, tier).inc()
        outcome = OUTCOMES.get(record.event_type)
        if outcome:
            self.requests.labels(outcome, category, record.summary.priority.value, tier).inc()
        details = record.details
        if record.event_type is EventType.ESCALATED and record.from_tier is not None:
            cause = "breach" if details.get("cause") == "sla_breach" else "manual"
            code = str(details.get("reason_code", "other"))
            self.escalations.labels(record.from_tier.value, tier, cause, code).inc()
        elif record.event_type is EventType.SLA_WARNING:
            self.sla_warnings.labels(str(details.get("clock", "")), tier).inc()
        elif record.event_type is EventType.SLA_BREACHED:
            self.sla_breaches.labels(str(details.get("clock", "")), tier).inc()
        elif record.event_type is EventType.SUPERVISOR_ALERT:
            self.supervisor_alerts.inc()
        elif record.event_type is EventType.OPERATOR_NEEDED:
            self.operator_holds.labels(str(details.get("step", ""))).inc()
        elif (
            record.event_type is EventType.RATED
            and details.get("rating") is not None
            and details.get("stage") is None  # the conclusion's: 受理评价 counts in 考核 only
        ):
            self.ratings.labels(category).observe(float(details["rating"]))
        if "response_business_seconds" in details:
            self.response_time.labels(category, tier).observe(details["response_business_seconds"])
        if "resolution_business_seconds" in details:
            self.resolution_time.labels(category, tier).observe(
                details["resolution_business_seconds"]
            )


class ApiMetrics:
    """HTTP metrics of the API on the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tierflow_api_requests_total",
            "API requests by route template, method and status code",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tierflow_api_request_seconds",
            "API request latency by route template",
            ["route", "method"],
            registry=registry,
        )
        self.actions = Counter(
            "tierflow_api_actions_total",
            "Actions sent to workflows by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )


T = TypeVar("T")
# How long a scrape waits for a database read: Prometheus gives up on a scrape after 10 s by
# default and marks the whole process down, so a database that takes connections but never
# answers must cost a scrape a few seconds, not two 10 s connect timeouts.
SCRAPE_READ_SECONDS = 3.0


class ScrapeRead(Generic[T]):
    """One collector's database read, run on a thread of its own; a scrape waits at most
    ``budget`` seconds for it (``TimeoutError`` past that). While a read has not returned,
    the next scrape waits for that one rather than start another: reads of a hung database
    never pile up. A read that returns after its scrape gave up serves the next scrape (a
    slow database's figures arrive a scrape late, never not at all). The thread is a daemon:
    a read hung on the database does not hold the process at exit."""

    def __init__(self, read: Callable[[], T], budget: float = SCRAPE_READ_SECONDS) -> None:
        self.read = read
        self.budget = budget
        self._lock = threading.Lock()
        self._running: Future[T] | None = None
        self._taken = True  # the last read's answer was served (or there was none)

    def start(self) -> Future[T]:
        """The read to serve: one running, or one done whose answer no scrape took yet;
        else a new one."""
        with self._lock:
            if self._running is None or (self._running.done() and self._taken):
                self._running, self._taken = self._spawn(), False
            return self._running

    def _spawn(self) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(self.read())
            except BaseException as exc:  # noqa: BLE001 - handed to the scrape that takes it
                future.set_exception(exc)

        threading.Thread(target=run, name="scrape-read", daemon=True).start()
        return future

    def __call__(self) -> T:
        running = self.start()
        try:
            return running.result(timeout=self.budget)
        finally:
            if running.done():
                with self._lock:
                    self._taken = True


def read_model_up(readable: bool) -> GaugeMetricFamily:
    """``tierflow_read_model_up``: whether the scrape could read the database its gauges come
    from. Without it an outage looks like an empty backlog, and the alerts on it resolve."""
    up = GaugeMetricFamily(
        "tierflow_read_model_up",
        "1 if this process read its database at this scrape, 0 if it could not (its "
        "database gauges are absent then)",
    )
    up.add_metric([], 1.0 if readable else 0.0)
    return up


class ReadModelCollector(Collector):
    """Gauges computed from the read model at scrape time: open, paused, on-hold and idle
    requests."""

    def __init__(self, engine: Engine, budget: float = SCRAPE_READ_SECONDS) -> None:
        self.engine = engine
        self._read = ScrapeRead(self._counts, budget)

    def _counts(self) -> tuple[dict[tuple[str, str], int], dict[str, int], dict[str, datetime]]:
        return open_counts(self.engine), operator_counts(self.engine), last_transitions(self.engine)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        open_requests = GaugeMetricFamily(
            "tierflow_open_requests", "Open requests by tier and state", labels=["tier", "state"]
        )
        paused = GaugeMetricFamily(
            "tierflow_paused_requests",
            "Requests awaiting the enterprise (SLA clock paused)",
            labels=["tier"],
        )
        on_hold = GaugeMetricFamily(
            "tierflow_requests_needing_operator",
            "Requests whose step failed permanently and wait for an operator",
            labels=["tier"],
        )
        idle = GaugeMetricFamily(
            "tierflow_oldest_idle_request_seconds",
            "Seconds since the last transition of the longest-idle unfinished request, by state",
            labels=["state"],
        )
        try:
            counts, holds, oldest = self._read()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the DB blinked
            yield read_model_up(False)  # the gauges are absent: alerts on them would resolve
            return
        yield read_model_up(True)
        for tier, count in holds.items():
            on_hold.add_metric([tier], count)
        now = datetime.now(UTC)
        for state, last in oldest.items():
            idle.add_metric([state], max((now - last).total_seconds(), 0.0))
        paused_by_tier: dict[str, int] = {}
        for (tier, state), count in counts.items():
            open_requests.add_metric([tier, state], count)
            if state == "awaiting_enterprise":
                paused_by_tier[tier] = paused_by_tier.get(tier, 0) + count
        for tier, count in paused_by_tier.items():
            paused.add_metric([tier], count)
        yield open_requests
        yield paused
        yield on_hold
        yield idle


ASSESSMENT_WINDOW = timedelta(days=30)
ASSESSMENT_REFRESH = timedelta(minutes=5)  # the 考核 gauges are tallied again after this
Tallies = dict[str, assessment.Tally]  # by institution, or by tier


class AssessmentCollector(Collector):
    """考核 gauges over a rolling window (30 days to the scrape), per institution, computed
    from the read model as the assessment report computes them, again every 5 minutes.

    Series: the rates per institution (an institution with nothing to measure has no
    sample), and the counts that are not zero. Institutions are bounded by the directory."""

    def __init__(
        self,
        engine: Engine,
        window: timedelta = ASSESSMENT_WINDOW,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh: timedelta = ASSESSMENT_REFRESH,
        budget: float = SCRAPE_READ_SECONDS,
    ) -> None:
        self.engine = engine
        self.window = window
        self.clock = clock
        self.refresh = refresh
        self._lock = threading.Lock()
        self._tallied: tuple[datetime, Tallies, Tallies] | None = None
        self._read = ScrapeRead(self._tally, budget)

    def _tally(self) -> tuple[datetime, Tallies, Tallies]:
        end = self.clock()
        units = assessment.tally(self.engine, [], (end - self.window, end))
        return end, units, assessment.regroup(self.engine, units, "tier")

    def _tallies(self) -> tuple[Tallies, Tallies]:
        """The window's tallies per institution and per tier, computed at most once per
        ``refresh``: over a month of a province they take most of a second, and a 30-day
        figure barely moves in minutes, while every worker is scraped every 15 s. A tally
        that outlasts the scrape's budget serves the scrapes after it; meanwhile they show
        the last one (none yet: no figures)."""
        with self._lock:
            tallied = self._tallied
            if tallied is None or self.clock() - tallied[0] >= self.refresh:
                try:
                    tallied = self._tallied = self._read()
                except TimeoutError:
                    if tallied is None:
                        raise
            return tallied[1], tallied[2]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        days = f"{self.window.total_seconds() / 86_400:g}"
        rates = GaugeMetricFamily(
            "tierflow_assessment_rate",
            f"考核 rates per institution over the last {days} days (0-1)",
            labels=["institution", "tier", "rate"],
        )
        counts = GaugeMetricFamily(
            "tierflow_assessment_count",
            f"考核 counts per institution over the last {days} days",
            labels=["institution", "tier", "figure"],
        )
        pooled = GaugeMetricFamily(
            "tierflow_assessment_tier_rate",
            f"考核 rates per tier over the last {days} days, its institutions' marks added up "
            "as the league table's by-tier rows (not their rates averaged) (0-1)",
            labels=["tier", "rate"],
        )
        try:
            tallies, tiers = self._tallies()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the DB blinked
            return
        for unit, entry in tallies.items():
            tier = entry.tier.value if entry.tier else ""
            for name in assessment.RATES:
                value = entry.figure(name)
                if value is not None:
                    rates.add_metric([unit, tier, name], value)
            for name in assessment.COUNTS:
                value = entry.figure(name)
                if value:
                    counts.add_metric([unit, tier, name], value)
        for tier, entry in tiers.items():
            for name in assessment.RATES:
                value = entry.figure(name)
                if value is not None and tier != assessment.UNKNOWN:
                    pooled.add_metric([tier, name], value)
        yield rates
        yield counts
        yield pooled


def open_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Return open requests per (tier, state) from the read model."""
    query = (
        select(ServiceRequest.tier, ServiceRequest.state, func.count())
        .where(col(ServiceRequest.state).in_(list(OPEN_STATES)))
        .group_by(ServiceRequest.tier, ServiceRequest.state)
    )
    with Session(engine) as session:
        return {(str(t), str(s)): int(n) for t, s, n in session.exec(query).all()}


def operator_counts(engine: Engine) -> dict[str, int]:
    """Return the requests waiting for an operator per tier."""
    query = (
        select(ServiceRequest.tier, func.count())
        .where(col(ServiceRequest.needs_operator))  # as ix_service_request_needs_operator
        .group_by(ServiceRequest.tier)
    )
    with Session(engine) as session:
        return {str(t): int(n) for t, n in session.exec(query).all()}


def last_transitions(engine: Engine) -> dict[str, datetime]:
    """Return, per unfinished state, the oldest last-transition time (``updated_at``)."""
    query = (
        select(ServiceRequest.state, func.min(ServiceRequest.updated_at))
        .where(col(ServiceRequest.state).not_in(list(TERMINAL_STATES)))
        .group_by(ServiceRequest.state)
    )
    with Session(engine) as session:
        rows = session.exec(query).all()
    return {str(s): _aware(t) for s, t in rows if t is not None}


def _aware(value: datetime) -> datetime:
    """SQLite gives the aggregate back as naive UTC text: make it aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
