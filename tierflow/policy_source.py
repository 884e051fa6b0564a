"""The SLA policy a worker pins for a new request: the one in force at its submission instant.

Releases (``tierflow.policy_store``) are recorded in the database by an admin on any host;
every worker reads the whole release timeline on a thread of its own every few seconds
(``TIERFLOW_POLICY_REFRESH_SECONDS``), so a promotion reaches new requests from its date with no
restart. ``at()`` is called on the worker's event loop (``load_policy`` is a local activity)
and never waits for the database: it picks from the timeline the last check found, and before
the first release (or while the database holds none) it gives the worker's policy file. A
check that fails keeps the last timeline, is logged once and stays reported (``error``) until
a check succeeds; before a first check worked it gives nothing (``NotReadYet``, retried).
Requests already running keep the policy they pinned: it is in their history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from tierflow.checked_source import CheckedSource
from tierflow.policy import PolicyFile
from tierflow.policy_store import Release, in_force, timeline

log = logging.getLogger("tierflow.policy")

REFRESH_SECONDS = 5.0


class PolicySource(Protocol):
    """Where ``load_policy`` gets the policy for a submission instant."""

    def at(self, moment: datetime) -> PolicyFile: ...


class FixedPolicy:
    """One policy at every instant (a worker without releases, the tests of one policy)."""

    def __init__(self, policy: PolicyFile) -> None:
        self.policy = policy

    def at(self, moment: datetime) -> PolicyFile:
        return self.policy


class RecordedPolicy(CheckedSource):
    """The released policies, checked every ``interval`` seconds on a daemon thread (none when
    ``interval`` is 0: the caller calls ``refresh``); ``fallback`` before the first release.
    ``clock`` stamps ``checked_at``, the last successful check."""

    what = "policy"
    log = log

    def __init__(
        self,
        engine: Engine,
        fallback: PolicyFile,
        *,
        interval: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_check: Callable[[list[PolicyFile]], object] | None = None,
    ) -> None:
        self.fallback = fallback
        self._timeline: list[tuple[Release, PolicyFile]] = []
        # told the policies after each check (the worker records the calendars they pin)
        self.on_check = on_check
        super().__init__(engine, interval=interval, clock=clock)

    def at(self, moment: datetime) -> PolicyFile:
        """The policy in force at ``moment`` by the last check (never waits; ``NotReadYet``
        before a first check worked)."""
        self.read_once()
        known = self._timeline
        index = in_force(known, moment)
        return self.fallback if index is None else known[index][1]

    def releases(self) -> list[Release]:
        """The releases the last check found, the earliest first."""
        return [release for release, _ in self._timeline]

    def keeping(self) -> str:
        if self.checked_at is None:
            return "nothing (new requests wait)"
        return f"the {len(self._timeline)} releases known"

    def check(self) -> None:
        found = timeline(self.engine)
        known = {release.id for release, _ in self._timeline}
        for release, _ in found:
            if release.id not in known:
                log.info(
                    "policy %s in force from %s (promoted by %s)",
                    release.version,
                    release.in_force_from.isoformat(),
                    release.promoted_by,
                )
        self._timeline = found
        if self.on_check is not None:
            self.on_check([self.fallback, *(policy for _, policy in found)])
