"""The SLA policy a worker pins for a new request: the one in force at its submission instant.

Releases (``tierflow.policy_store``) are recorded in the database by an admin on any host;
every worker reads the whole release timeline on a thread of its own every few seconds
(``TIERFLOW_POLICY_REFRESH_SECONDS``), so a promotion reaches new requests from its date with no
restart. ``at()`` is called on the worker's event loop (``load_policy`` is a local activity)
and never waits for the database: it picks from the timeline the last check found, and before
the first release (or while the database holds none) it gives the worker's policy file. A
check that fails keeps the last timeline, is logged once and stays reported (``error``) until
a check succeeds. Requests already running keep the policy they pinned: it is in their history.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from tierflow.db.errors import describe_db_error
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


class RecordedPolicy:
    """The released policies, checked every ``interval`` seconds on a daemon thread (none when
    ``interval`` is 0: the caller calls ``refresh``); ``fallback`` before the first release.
    ``clock`` stamps ``checked_at``, the last successful check."""

    def __init__(
        self,
        engine: Engine,
        fallback: PolicyFile,
        *,
        interval: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.fallback = fallback
        self.interval = interval
        self.error: str | None = None
        self.checked_at: float | None = None
        self._clock = clock
        self._timeline: list[tuple[Release, PolicyFile]] = []
        self._stop = threading.Event()
        self.refresh()  # at start, so the first request already pins by the database's
        self._thread: threading.Thread | None = None
        if interval > 0:
            self._thread = threading.Thread(
                target=_keep_checking,
                args=(weakref.ref(self), self._stop, interval),
                name="policy-refresh",
                daemon=True,
            )
            self._thread.start()

    def at(self, moment: datetime) -> PolicyFile:
        """The policy in force at ``moment`` by the last check (never waits)."""
        known = self._timeline
        index = in_force(known, moment)
        return self.fallback if index is None else known[index][1]

    def releases(self) -> list[Release]:
        """The releases the last check found, the earliest first."""
        return [release for release, _ in self._timeline]

    @property
    def failed(self) -> bool:
        """Whether the last check failed (``error`` says why; the last timeline is kept)."""
        return self.error is not None

    def refresh(self) -> bool:
        """Read the release timeline now; return whether the check worked."""
        try:
            found = timeline(self.engine)
        except Exception as exc:  # noqa: BLE001 - a worker keeps pinning by what it has
            self._failed(exc)
            return False
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
        if self.error is not None:
            log.info("policy check works again")
        self.error, self.checked_at = None, self._clock()
        return True

    def _failed(self, exc: Exception) -> None:
        said = describe_db_error(exc) if isinstance(exc, SQLAlchemyError) else repr(exc)
        if self.error is None:
            log.warning("policy check failed, pinning by the releases known: %s", said)
        self.error = said

    def close(self) -> None:
        """Stop checking (the thread also stops once nothing holds this object)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _keep_checking(
    ref: weakref.ref[RecordedPolicy], stop: threading.Event, interval: float
) -> None:
    while not stop.wait(interval):
        source = ref()
        if source is None:
            return
        source.refresh()
        del source
