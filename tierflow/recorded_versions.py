"""Versions recorded whole in the database (SLA policies, institution directories, business
calendars), parsed once.

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
from sqlmodel import Session

from tierflow.db.models import BusinessCalendar, DirectoryVersion, SlaPolicyVersion

T = TypeVar("T")
# a table of recorded versions
Row = TypeVar("Row", SlaPolicyVersion, DirectoryVersion, BusinessCalendar)


class RecordedVersions(Generic[Row, T]):
    """The versions of ``table`` (its key ``version``, its text ``content``) as ``parse`` reads
    them (it names the table and version in its errors); the ``size`` most recently used kept."""

    def __init__(
        self,
        table: type[Row],
        parse: Callable[[str, str], T],
        size: int,
    ) -> None:
        self.table: type[Row] = table
        self.parse = parse
        self.size = size
        self._found: OrderedDict[tuple[str, str], T] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, engine: Engine, version: str) -> T | None:
        """Return recorded ``version``, parsed, or None if it is not recorded."""
        key = (engine.url.render_as_string(hide_password=True), version)
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
                return found
        with Session(engine) as session:
            row = session.get(self.table, version)
            content = row.content if row is not None else None
        if content is None:
            return None
        found = self.parse(content, f"{self.table.__tablename__} {version}")
        with self._lock:
            self._found[key] = found
            self._found.move_to_end(key)
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        return found
