"""The read model's schema revision this release's code needs, without importing Alembic.

Revisions are files in ``migrations/versions`` whose names, like their revision ids, begin
with their number (a linear history: ``tests/unit/test_schema_head.py`` checks both against
Alembic), so the head is the highest number. Processes compare it with the number of the
database's ``alembic_version``: the API's readiness, and the worker, the ingress and the
notifier before they start their work.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from functools import cache
from importlib import resources

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

log = logging.getLogger("tierflow.schema")


@cache
def schema_head() -> str:
    """The number of the newest revision this release's migrations reach (e.g. ``0039``)."""
    versions = resources.files("tierflow.db").joinpath("migrations", "versions")
    return max(p.name[:4] for p in versions.iterdir() if p.name[:4].isdigit())


def behind(revision: str | None) -> bool:
    """Whether a database at ``revision`` (None: never migrated) predates this release's
    schema; a newer one is not (its release's processes may still be rolling out)."""
    return revision is None or revision[:4] < schema_head()


def revision_of(engine: Engine) -> str | None:
    """The revision ``alembic_version`` holds (None: never migrated)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except ProgrammingError:  # PostgreSQL: no such table yet
        return None
    except OperationalError as exc:  # SQLite says the same thus; anything else is an outage
        if "no such table" in str(exc):
            return None
        raise


def waiting_for(engine: Engine) -> str | None:
    """Why a process of this release cannot write the database yet (None: it can)."""
    try:
        revision = revision_of(engine)
    except OperationalError as exc:  # the database away: its writes wait for it anyway
        return f"database unreachable ({type(exc.orig).__name__}): waiting for it"
    if not behind(revision):
        return None
    return (
        f"database schema at {revision or 'no revision'}, this release needs "
        f"{schema_head()}: waiting for `tierflow db upgrade`"
    )


class _Patience:
    """The pause before the next look (doubling to 30 s), and each new reason logged once."""

    def __init__(self) -> None:
        self.pause = 1.0
        self.said = ""

    def next_pause(self, why: str) -> float:
        if why != self.said:
            log.warning("%s", why)
            self.said = why
        pause, self.pause = self.pause, min(self.pause * 2, 30.0)
        return pause


async def wait_for_schema(engine: Engine, stop: asyncio.Event) -> bool:
    """Wait until the database's schema is this release's or newer (and the database answers);
    False if ``stop`` was set first. A process writing the read model waits here instead of
    failing every write on a column its release added (a migration not run, or failed
    midway): it is not ready, so a rolling update does not replace the processes of the
    release before with it."""
    patience = _Patience()
    while not stop.is_set():
        why = await asyncio.to_thread(waiting_for, engine)
        if why is None:
            return True
        try:
            await asyncio.wait_for(stop.wait(), patience.next_pause(why))  # SIGTERM: at once
        except TimeoutError:
            pass
    return False


def wait_for_schema_blocking(engine: Engine, stop: threading.Event) -> bool:
    """``wait_for_schema`` for a process run on threads (the notifier)."""
    patience = _Patience()
    while not stop.is_set():
        why = waiting_for(engine)
        if why is None:
            return True
        stop.wait(patience.next_pause(why))
    return False
