"""A what-if run over many requests: slices simulated in parallel processes, then merged.

Each process reads its own slice of the audit trail and the sources it pins by, so nothing
large crosses between processes but the reports.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine

from schemas.policy import CalendarData
from tierflow.calendar_store import recorded_calendar
from tierflow.db.engine import make_engine
from tierflow.directory import Directory
from tierflow.policy import PolicyError, parse_policy
from whatif.driver import SimulationError
from whatif.lookups import Pinning
from whatif.replay import Disagreement, disagreement, replay
from whatif.report import Report, merge
from whatif.sources import Grades, PolicyVersions, directory_of
from whatif.trail import Calendars, RecordedRequest, Scope, load, request_ids

T = TypeVar("T")
# a slice is simulated as one task: small enough to spread, large enough to pay its set-up
SLICE = 2000


@dataclass(frozen=True)
class Job:
    """What to simulate: the database, the period and scope, until when timers fire."""

    database_url: str
    scope: Scope
    horizon: datetime  # timers due after it do not fire (the moment the data stands for)
    processes: int = 2


@dataclass(frozen=True)
class Candidate:
    """A candidate policy file (TOML text), and optionally a candidate calendar (JSON)."""

    policy_text: str
    calendar_json: str | None = None

    def pinning(self, grades: Grades, calendars: Calendars) -> Pinning:
        calendar = (
            CalendarData.model_validate_json(self.calendar_json) if self.calendar_json else None
        )
        policy = parse_policy(self.policy_text, "candidate")
        return Pinning(policy, grades.grade_on, calendar, calendars=calendars)


class Context:
    """What one process pins by: grades, directory, every request's own policy."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.grades = Grades.read(engine)
        self.directory: Directory = directory_of(engine)
        self.versions = PolicyVersions(engine)
        self._own: dict[str, Pinning] = {}

    def calendars(self, version: str) -> CalendarData | None:
        """A recorded calendar by version (None: not recorded)."""
        return recorded_calendar(self.engine, version)

    def own(self, version: str) -> Pinning:
        """The request's own policy (PolicyError if its version is not recorded)."""
        if version not in self._own:
            self._own[version] = Pinning(
                self.versions.get(version),
                self.grades.grade_on,
                as_recorded=True,
                calendars=self.calendars,
            )
        return self._own[version]


def _slices(ids: list[str], processes: int) -> list[list[str]]:
    size = max(1, min(SLICE, -(-len(ids) // max(processes, 1))))
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _map(job: Job, task: Callable[[Job, list[str]], T], ids: list[str]) -> Iterator[T]:
    slices = _slices(ids, job.processes)
    if job.processes <= 1 or len(slices) <= 1:
        yield from (task(job, s) for s in slices)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(job.processes, mp_context=context) as pool:
        yield from pool.map(task, [job] * len(slices), slices)


def _requests(job: Job, ids: list[str]) -> tuple[Context, Iterator[RecordedRequest]]:
    engine = make_engine(job.database_url)
    return Context(engine), load(engine, ids)


# ---------------------------------------------------------------------------- what-if
@dataclass(frozen=True)
class WhatIfJob(Job):
    candidate: Candidate = field(default_factory=lambda: Candidate(""))


def _whatif_slice(job: Job, ids: list[str]) -> Report:
    assert isinstance(job, WhatIfJob)
    context, requests = _requests(job, ids)
    candidate = job.candidate.pinning(context.grades, context.calendars)
    report = Report(candidate.version, job.scope.as_dict())
    for recorded in requests:
        if recorded.problem is not None:
            report.skip(recorded.request.request_id, recorded.problem)
            continue
        try:
            own = context.own(recorded.policy_version)
            before = replay(recorded, own, context.directory, job.horizon)
            after = replay(
                recorded, candidate, context.directory, job.horizon, yardstick=before.calendar
            )
        except (PolicyError, SimulationError) as exc:
            report.skip(recorded.request.request_id, str(exc))
            continue
        report.add(before.outcome, after.outcome, refused=len(after.refused))
    return report


def run_whatif(job: WhatIfJob) -> Report:
    """Simulate every request in scope under its own policy and under the candidate."""
    engine = make_engine(job.database_url)
    ids = request_ids(engine, job.scope, submitted_before=job.horizon)
    engine.dispose()
    candidate_version = parse_policy(job.candidate.policy_text, "candidate").version
    parts = list(_map(job, _whatif_slice, ids))
    report = merge(parts) if parts else Report(candidate_version, job.scope.as_dict())
    report.as_of = job.horizon
    return report


# ---------------------------------------------------------------------------- verify
@dataclass
class Verification:
    """Whether replaying each request under its own policy reproduces its recording."""

    requests: int = 0
    agreed: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    max_drift: timedelta = timedelta(0)

    @property
    def holds(self) -> bool:
        return not self.disagreements and not self.skipped

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "agreed": self.agreed,
            "holds": self.holds,
            "max_drift_seconds": self.max_drift.total_seconds(),
            "disagreements": [d.describe() for d in self.disagreements],
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class VerifyJob(Job):
    tolerance: timedelta = timedelta(seconds=5)


def _verify_slice(job: Job, ids: list[str]) -> Verification:
    assert isinstance(job, VerifyJob)
    context, requests = _requests(job, ids)
    found = Verification()
    cutoff = job.horizon - job.tolerance
    for recorded in requests:
        found.requests += 1
        request_id = recorded.request.request_id
        if recorded.problem is not None:
            found.skipped.append({"request_id": request_id, "reason": recorded.problem})
            continue
        try:
            replayed = replay(
                recorded, context.own(recorded.policy_version), context.directory, job.horizon
            )
        except (PolicyError, SimulationError) as exc:
            found.skipped.append({"request_id": request_id, "reason": str(exc)})
            continue
        differs, drift = disagreement(recorded, replayed, job.tolerance, cutoff)
        found.max_drift = max(found.max_drift, drift)
        if differs is None:
            found.agreed += 1
        else:
            found.disagreements.append(differs)
    return found


def run_verify(job: VerifyJob) -> Verification:
    """Replay every request in scope under its own pinned policy and compare with the trail."""
    engine = make_engine(job.database_url)
    ids = request_ids(engine, job.scope)
    engine.dispose()
    total = Verification()
    for part in _map(job, _verify_slice, ids):
        total.requests += part.requests
        total.agreed += part.agreed
        total.disagreements += part.disagreements
        total.skipped += part.skipped
        total.max_drift = max(total.max_drift, part.max_drift)
    return total
