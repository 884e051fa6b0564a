"""The business calendars the console counts down on.

A request's deadlines were computed by its workflow on the calendar pinned at submission: its
policy's calendar for the submission year (China time) and the horizon after it
(``PolicyFile.pin``), or a newer one an operator published to it. A request's own page counts
on that pinned calendar, which the workflow's view carries. Lists, which have only read-model
rows, rebuild it from the policy version the row names (a release's, recorded in
``sla_policy_version``: its working hours may differ from the file's), else from the same
policy file the worker reads (``TIERFLOW_POLICY_FILE``, else the packaged one), once per
version and year: the same calendar unless an operator published a newer one to the request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine

from schemas.policy import CalendarData
from tierflow.policy import PolicyFile, load_policy_file
from tierflow.policy_store import load_version


class DisplayCalendars:
    """Calendars by policy version and submission year (built once each): the version's as
    recorded in ``engine``, else those of the policy file at ``path``."""

    def __init__(self, path: Path | None, engine: Engine | None = None) -> None:
        self.path = path
        self.engine = engine
        self._policy: PolicyFile | None = None
        self._years: dict[tuple[str | None, int], CalendarData] = {}
        self._versions: dict[str, PolicyFile | None] = {}  # read once each, found or not

    def for_year(self, year: int, version: str | None = None) -> CalendarData:
        key = (version, year)
        if key not in self._years:
            self._years[key] = self._policy_of(version).calendar_for(year)
        return self._years[key]

    def at_submission(self, submitted_at: datetime, version: str | None = None) -> CalendarData:
        """The calendar a request of policy ``version`` submitted at ``submitted_at`` pinned:
        of its year where the calendar's hours are kept (China time), as ``PolicyFile.pin``
        chooses it; a request of 07:00 on 1 January there is of the new year, not of UTC's
        old one."""
        aware = submitted_at if submitted_at.tzinfo else submitted_at.replace(tzinfo=UTC)
        return self.for_year(self._policy_of(version).local_year(aware), version)

    def _policy_of(self, version: str | None) -> PolicyFile:
        """Policy ``version`` as recorded (a release's), else the file's."""
        file = self._file()
        if version is None or version == file.version or self.engine is None:
            return file
        if version not in self._versions:
            self._versions[version] = load_version(self.engine, version)
        return self._versions[version] or file

    def _file(self) -> PolicyFile:
        if self._policy is None:
            self._policy = load_policy_file(self.path)
        return self._policy


@lru_cache(maxsize=8)
def calendars(path: Path | None, engine: Engine | None = None) -> DisplayCalendars:
    """The calendars of one policy file and database, shared by every page."""
    return DisplayCalendars(path, engine)
