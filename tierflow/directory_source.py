"""The directory a worker routes new requests with: the newest version in the database.

An import on any host (the console of an API replica, ``tierflow directory import``) records
a version in ``directory_version``; every worker checks for a newer one on a thread of its
own every few seconds and routes new requests by it, so imports need no shared file and no
restart. ``current()`` is called on the worker's event loop (routing is a local activity) and
never waits for the database: it returns what the last check found, or, while the database
holds no version, the directory file (``DirectoryWatch``). A check that fails keeps the last
directory found, is logged once and stays reported (``error``) until a check succeeds.
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
from tierflow.directory import Directory, DirectorySource
from tierflow.directory_store import load_version, newest_version

log = logging.getLogger("tierflow.directory")

REFRESH_SECONDS = 5.0


class RecordedDirectory:
    """The newest recorded directory version, checked every ``interval`` seconds on a daemon
    thread (none when ``interval`` is 0: the caller calls ``refresh``); ``fallback`` while the
    database holds no version. ``clock`` stamps ``checked_at``, the last successful check."""

    def __init__(
        self,
        engine: Engine,
        fallback: DirectorySource,
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
        self._recorded: Directory | None = None
        self._stop = threading.Event()
        self.refresh()  # at start, so the first request already routes by the database's
        self._thread: threading.Thread | None = None
        if interval > 0:
            self._thread = threading.Thread(
                target=_keep_checking,
                args=(weakref.ref(self), self._stop, interval),
                name="directory-refresh",
                daemon=True,
            )
            self._thread.start()

    def current(self) -> Directory:
        """The directory the last check found, else the fallback's (never waits)."""
        recorded = self._recorded
        return recorded if recorded is not None else self.fallback.current()

    @property
    def failed(self) -> bool:
        """Whether the last check failed (``error`` says why; the last directory is kept)."""
        return self.error is not None

    def refresh(self) -> bool:
        """Check the database for the newest version now; return whether the check worked."""
        try:
            newest = newest_version(self.engine)
            known = self._recorded
            if newest is None or (known is not None and known.version == newest):
                found = known if newest is not None else None
            else:
                found = load_version(self.engine, newest)  # parsed once: the store caches it
        except Exception as exc:  # noqa: BLE001 - a worker keeps routing by what it has
            self._failed(exc)
            return False
        if found is not None and found is not known:
            log.info("directory version %s: the newest in the database", found.version)
        if found is not None or newest is None:  # a version that did not load: keep the last
            self._recorded = found
        if self.error is not None:
            log.info("directory check works again: version %s", self.current().version)
        self.error, self.checked_at = None, self._clock()
        return True

    def _failed(self, exc: Exception) -> None:
        said = describe_db_error(exc) if isinstance(exc, SQLAlchemyError) else repr(exc)
        if self.error is None:
            log.warning(
                "directory check failed, routing by %s until one works: %s",
                self.current().version,
                said,
            )
        self.error = said

    def close(self) -> None:
        """Stop checking (the thread also stops once nothing holds this object)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _keep_checking(
    ref: weakref.ref[RecordedDirectory], stop: threading.Event, interval: float
) -> None:
    while not stop.wait(interval):
        source = ref()
        if source is None:
            return
        source.refresh()
        del source
