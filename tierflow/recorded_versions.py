"""Parsed versions of what is recorded by version (SLA policies, institution directories).

A recorded version's content never changes, so a process parses each one once and keeps the
most recently used; the key names the database as well, since one process may read several
(tests, tools). Only versions found are kept: a version missing now may be recorded later.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")


class VersionCache(Generic[T]):
    """The ``size`` most recently used parsed versions, by (database, version); thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._found: OrderedDict[tuple[str, str], T] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(
        self, engine: Engine, version: str, load: Callable[[Engine, str], T | None]
    ) -> T | None:
        """Return ``version`` as parsed before, else as ``load`` reads and parses it (None: not
        recorded, and not kept)."""
        key = (engine.url.render_as_string(hide_password=True), version)
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
                return found
        found = load(engine, version)  # outside the lock: it reads the database
        if found is not None:
            with self._lock:
                self._found[key] = found
                self._found.move_to_end(key)
                while len(self._found) > self.size:
                    self._found.popitem(last=False)
        return found
