"""Engines for SQLite and PostgreSQL (migrations: ``tierflow.db.migrate``)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, create_engine, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A PostgreSQL host that takes the connection and never answers (or drops it unanswered) would
# hold a scrape of /metrics, a pool slot and its activity for minutes; a URL's own
# ``connect_timeout`` wins.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
POSTGRES_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def normalize_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver for PostgreSQL; raise ValueError if unknown."""
    if not url:
        raise ValueError("database url is empty; set TIERFLOW_DATABASE_URL")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ValueError(f"database url {parsed!r}: backend {backend!r} is not sqlite or postgresql")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Return an engine; SQLite gets WAL and a busy timeout so threads and processes share it,
    PostgreSQL sessions no JIT and a connection timeout.

    Statement parameters are left out of error messages (``hide_parameters``): a failed
    insert would otherwise put contact details or comment text into logs and failures.
    """
    url = normalize_url(url)
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # and TCP keepalives: a pooled connection whose host went away unanswered is found dead
    # in about a minute, not after the kernel's two hours (a URL's own settings win)
    defaults = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS, **POSTGRES_KEEPALIVES}
    connect_args = {k: v for k, v in defaults.items() if k not in parsed.query}
    kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "connect", _postgres_session)
    return engine


_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_write_locks_guard = threading.Lock()


def count_if(condition: Any) -> Any:
    """A group's rows that meet ``condition``, counted in the database (0 for none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def conflict_insert(table: Table, dialect_name: str) -> Any:
    """``INSERT`` into ``table`` that takes ``ON CONFLICT`` clauses: PostgreSQL's, else
    SQLite's (the two stores tierflow runs on)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(table)


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()`` for a write transaction, one at a time per process on SQLite.

    SQLite has a single writer anyway; queueing threads on a lock is far faster than letting
    them collide and back off in SQLite's busy handler (sleeps of up to 100 ms each). Other
    processes still wait through ``busy_timeout``. PostgreSQL writes run concurrently.
    """
    lock: Any = nullcontext()
    if engine.dialect.name == "sqlite":
        with _write_locks_guard:
            lock = _write_locks.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    """No JIT: the read model's queries are short, and PostgreSQL's cost estimates of a
    queue's correlated ORDER BY passed its JIT thresholds, so compiling took longer than the
    query (a caseworker's search 57 ms without, up to a second with). Committed, as the pool
    rolls back what a connection left open."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET jit = off")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
