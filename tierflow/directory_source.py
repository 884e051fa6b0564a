"""The directory a worker routes new requests with: the newest version in the database.

An import on any host (the console of an API replica, ``tierflow directory import``) records
a version in ``directory_version``; every worker checks for a newer one on a thread of its
own every few seconds and routes new requests by it, so imports need no shared file and no
restart. ``current()`` is called on the worker's event loop (routing is a local activity) and
never waits for the database: it returns what the last check found, or, while the database
holds no version, the directory file (``DirectoryWatch``). A check that fails keeps the last
directory found, is logged once and stays reported (``error``) until a check succeeds;
before a first check worked it gives nothing (``NotReadYet``: routing retries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from tierflow.checked_source import CheckedSource
from tierflow.directory import Directory, DirectorySource
from tierflow.directory_store import load_version, newest_version

log = logging.getLogger("tierflow.directory")

REFRESH_SECONDS = 5.0


class RecordedDirectory(CheckedSource):
    """The newest recorded directory version, checked every ``interval`` seconds on a daemon
    thread (none when ``interval`` is 0: the caller calls ``refresh``); ``fallback`` while the
    database holds no version. ``clock`` stamps ``checked_at``, the last successful check."""

    what = "directory"
    log = log

    def __init__(
        self,
        engine: Engine,
        fallback: DirectorySource,
        *,
        interval: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fallback = fallback
        self._recorded: Directory | None = None
        super().__init__(engine, interval=interval, clock=clock)

    def current(self) -> Directory:
        """The directory the last check found, else the fallback's (never waits;
        ``NotReadYet`` before a first check worked)."""
        self.read_once()
        recorded = self._recorded
        return recorded if recorded is not None else self.fallback.current()

    def keeping(self) -> str:
        if self.checked_at is None:
            return "nothing (new requests wait)"
        recorded = self._recorded or self.fallback.current()
        return f"directory version {recorded.version}"

    def check(self) -> None:
        newest = newest_version(self.engine)
        known = self._recorded
        if newest is None or (known is not None and known.version == newest):
            found = known if newest is not None else None
        else:
            found = load_version(self.engine, newest)  # parsed once: the store caches it
        if found is not None and found is not known:
            log.info("directory version %s: the newest in the database", found.version)
        if found is not None or newest is None:  # a version that did not load: keep the last
            self._recorded = found
