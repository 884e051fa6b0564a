"""Business calendars recorded by version, so a what-if counts the days a request counted.

A request pins its calendar at admission, built from the ``holidays`` data installed on the
worker, and may later take one an operator published (``tierflow calendar publish``). Its
history holds both, the read model only their versions; a what-if run elsewhere, or after
an upgrade of that data, would build other days. So workers record the calendars they pin
(those of this year and the next, at start and at each check of the policy releases:
``PinnableCalendars``) and ``calendar publish`` the one it publishes.
A version names the data release and the years, so its days never change: a version is
recorded once, and its working hours are the policy's, not the record's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache

import holidays
from sqlalchemy import Engine

from schemas.policy import CalendarData
from tierflow.calendar_data import build_calendar
from tierflow.db.engine import begin_write, conflict_insert
from tierflow.db.models import BusinessCalendar
from tierflow.policy import PolicyFile
from tierflow.recorded_versions import RecordedVersions

log = logging.getLogger("tierflow.calendars")

CACHED_VERSIONS = 16
# the version ``build_calendar`` gives the published calendars: the data release and years
BUILT = re.compile(r"cn-holidays-(?P<data>.+)-(?P<first>\d{4})-(?P<last>\d{4})")
WORKER = "worker"  # recorded_by of the calendars a worker pins


def record_calendar(engine: Engine, calendar: CalendarData, by: str) -> bool:
    """Record ``calendar`` unless its version is; return True if it was new."""
    table = BusinessCalendar.__table__  # type: ignore[attr-defined]
    row = {
        "version": calendar.version,
        "recorded_at": datetime.now(UTC),
        "recorded_by": by,
        "content": calendar.model_dump_json(),
    }
    with begin_write(engine) as connection:
        insert = conflict_insert(table, connection.dialect.name).values(row)
        result = connection.execute(insert.on_conflict_do_nothing(index_elements=["version"]))
    return bool(result.rowcount)


class PinnableCalendars:
    """Records, once each, the calendars a worker's policies pin for requests of this year and
    the next: at start and on every check of the policy releases (``RecordedPolicy``), so a
    release promoted since and a new year are recorded too. Never raises: a failure (the
    table not granted to the worker's role, the database away) is logged once and retried at
    the next check; admissions go on."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._done: set[tuple[str, int]] = set()
        self._failing = False

    def record(self, policies: Iterable[PolicyFile]) -> list[str]:
        """Record what ``policies`` pin and was not recorded yet; return the new versions."""
        new: list[str] = []
        try:
            for policy in policies:
                year = policy.local_year(self.clock())
                for pinned_year in (year, year + 1):
                    if (policy.version, pinned_year) in self._done:
                        continue
                    new += record_pinnable(self.engine, [policy], (pinned_year,))
                    self._done.add((policy.version, pinned_year))
        except Exception as exc:  # noqa: BLE001 - admissions go on; the what-if names the gap
            if not self._failing:
                log.warning("business calendars not recorded (retried): %s", exc)
            self._failing = True
            return new
        self._failing = False
        for version in new:
            log.info("business calendar %s recorded", version)
        return new


def record_pinnable(
    engine: Engine, policies: Iterable[PolicyFile], years: Iterable[int], by: str = WORKER
) -> list[str]:
    """Record the calendar each policy pins for a request of each year; return the versions
    new to the table. A policy without public holidays pins no data to record."""
    new: list[str] = []
    for policy in policies:
        if not policy.calendar.public_holidays:
            continue
        for year in years:
            calendar = policy.calendar_for(year)
            if record_calendar(engine, calendar, by):
                new.append(calendar.version)
    return new


def _parse(content: str, where: str) -> CalendarData:
    try:
        return CalendarData.model_validate_json(content)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


_PARSED = RecordedVersions(BusinessCalendar, _parse, CACHED_VERSIONS)


def recorded_calendar(engine: Engine, version: str) -> CalendarData | None:
    """Calendar ``version`` as recorded, else as the installed ``holidays`` data builds it
    when the version names that data (one published before calendars were recorded, by
    ``calendar publish``: its default hours); None if neither."""
    found = _PARSED.load(engine, version)
    if found is not None:
        return found
    named = BUILT.fullmatch(version)
    if named is None or named["data"] != holidays.__version__:
        return None
    return _built(int(named["first"]), int(named["last"]))


@lru_cache(maxsize=8)
def _built(first_year: int, last_year: int) -> CalendarData:
    return build_calendar(first_year, last_year)
