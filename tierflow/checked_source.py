"""What a process reads from the database every few seconds, on a thread of its own.

The directory and the SLA policy releases are recorded in the database by an admin on any
host; each worker checks for news on a daemon thread, so a change needs no shared file and no
restart, and the worker's event loop never waits for the database: it reads what the last
check found. A check that fails keeps what the last one found, is logged once and stays
reported (``error``) until a check succeeds. Until a first check works, nothing is read
from it (``NotReadYet``): the database's content is unknown, not absent.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from tierflow.db.errors import describe_db_error


class NotReadYet(RuntimeError):
    """The database has not been read once since the process started (it was down): what it
    holds is unknown, so nothing is decided by the file the process would fall back on. A
    retryable failure: the activity asking tries again until a check works."""


class CheckedSource:
    """Calls ``check`` now and then every ``interval`` seconds on a daemon thread (none when
    ``interval`` is 0: the caller calls ``refresh``). ``clock`` stamps ``checked_at``, the
    last successful check. Subclasses read the database in ``check`` and say what they keep
    using while checks fail in ``keeping``."""

    what = "source"  # names the thread and the log lines
    log = logging.getLogger("tierflow")

    def __init__(
        self, engine: Engine, *, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.error: str | None = None
        self.checked_at: float | None = None
        self._clock = clock
        self._stop = threading.Event()
        self.refresh()  # at start, so the first request already reads the database's
        self._thread: threading.Thread | None = None
        if interval > 0:
            self._thread = threading.Thread(
                target=_keep_checking,
                args=(weakref.ref(self), self._stop, interval),
                name=f"{self.what}-refresh",
                daemon=True,
            )
            self._thread.start()

    def check(self) -> None:
        """Read the database and keep what it holds now (raise if it cannot be read)."""
        raise NotImplementedError

    def keeping(self) -> str:
        """What is used while checks fail, for the log."""
        return "what the last check found"

    def read_once(self) -> None:
        """Raise ``NotReadYet`` until a check has worked: a process started while the database
        was down would otherwise pin or route new requests by its fallback, for their life."""
        if self.checked_at is None:
            raise NotReadYet(
                f"the {self.what} in the database has not been read yet ({self.error}); "
                "retrying until it is"
            )

    @property
    def failed(self) -> bool:
        """Whether the last check failed (``error`` says why; what it found before is kept)."""
        return self.error is not None

    def refresh(self) -> bool:
        """Check the database now; return whether the check worked."""
        try:
            self.check()
        except Exception as exc:  # noqa: BLE001 - a worker keeps going with what it has
            said = describe_db_error(exc) if isinstance(exc, SQLAlchemyError) else repr(exc)
            if self.error is None:
                self.log.warning(
                    "%s check failed, using %s until one works: %s", self.what, self.keeping(), said
                )
            self.error = said
            return False
        recovered = self.error is not None
        self.error, self.checked_at = None, self._clock()
        if recovered:
            self.log.info("%s check works again: %s", self.what, self.keeping())
        return True

    def close(self) -> None:
        """Stop checking (the thread also stops once nothing holds this object)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _keep_checking(ref: weakref.ref[CheckedSource], stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        source = ref()
        if source is None:
            return
        source.refresh()
        del source
