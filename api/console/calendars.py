"""The business calendars the console counts down on.

A request's deadlines were computed by its workflow on the calendar pinned at submission: the
policy's calendar for the submission year (China time) and the horizon after it
(``PolicyFile.pin``), or a
newer one an operator published to it. A request's own page counts on that pinned calendar,
which the workflow's view carries. Lists, which have only read-model rows, rebuild it from the
same policy file the worker reads (``TIERFLOW_POLICY_FILE``, else the packaged one), once per
year: the same calendar unless an operator published a newer one to running requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from schemas.policy import CalendarData
from tierflow.policy import PolicyFile, load_policy_file


class DisplayCalendars:
    """Calendars of the policy file at ``path`` by submission year (built once each)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._policy: PolicyFile | None = None
        self._years: dict[int, CalendarData] = {}

    def for_year(self, year: int) -> CalendarData:
        if year not in self._years:
            self._years[year] = self._file().calendar_for(year)
        return self._years[year]

    def at_submission(self, submitted_at: datetime) -> CalendarData:
        """The calendar a request submitted at ``submitted_at`` pinned: of its year where the
        calendar's hours are kept (China time), as ``PolicyFile.pin`` chooses it; a request of
        07:00 on 1 January there is of the new year, not of UTC's old one."""
        aware = submitted_at if submitted_at.tzinfo else submitted_at.replace(tzinfo=UTC)
        return self.for_year(self._file().local_year(aware))

    def _file(self) -> PolicyFile:
        if self._policy is None:
            self._policy = load_policy_file(self.path)
        return self._policy


@lru_cache(maxsize=8)
def calendars(path: Path | None) -> DisplayCalendars:
    """The calendars of one policy file, shared by every page."""
    return DisplayCalendars(path)
