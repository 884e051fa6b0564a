"""The security audit log (等保 2.0 安全审计): who administered users and tokens, who signed in.

``record`` writes one ``security_event`` row: into the caller's transaction when given its
connection or session (the event commits, or rolls back, with the change it records), else in
a transaction of its own. ``read`` is what ``tierflow audit security`` shows. Nothing here
updates or deletes a row; in production the application's database role should not be able to
either (docs/security.md).

Details are a small JSON object of codes, ids and times. A token, a session id or a digest of
either never goes in: ``record`` refuses a value that looks like one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, or_, select
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from tierflow.db.auth_models import SecurityEvent, SecurityEventKind
from tierflow.db.engine import begin_write

__all__ = ["UNNAMED", "SecurityEvent", "SecurityEventKind", "read", "record"]

# the actor of a change whose caller did not name one (not a possible user id: no parentheses)
UNNAMED = "(unnamed)"
COLUMN_CHARS = 100  # actor, subject and address columns
# a token (auth_store.TOKEN_PREFIX), or a SHA-256 digest (a token's, a session id's)
_SECRET_LIKE = re.compile(r"tf_\S|[0-9a-fA-F]{64}")

_table: Table = SQLModel.metadata.tables[SecurityEvent.__tablename__]

Target = Engine | Connection | Session


def record(
    target: Target,
    kind: SecurityEventKind,
    *,
    actor: str | None,
    subject: str | None = None,
    address: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime,
) -> None:
    """Write one event, in ``target``'s transaction unless ``target`` is an engine.

    ``actor``: a user id, ``cli:<os user>``, or None (nobody signed in: an unknown token, an
    expiry, a lockout). Raises ValueError for details holding what looks like a secret."""
    shown = dict(details or {})
    _refuse_secrets(shown)
    row = {
        "occurred_at": now,
        "kind": SecurityEventKind(kind),
        "actor": _clip(actor),
        "subject": _clip(subject),
        "address": _clip(address),
        "details": shown,
    }
    statement = insert(_table).values(row)
    if isinstance(target, Engine):
        with begin_write(target) as conn:
            conn.execute(statement)
    elif isinstance(target, Session):
        target.connection().execute(statement)
    else:
        target.execute(statement)


def read(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: SecurityEventKind | None = None,
    user: str | None = None,
    limit: int = 100,
) -> list[SecurityEvent]:
    """Return events at or after ``since`` and before ``until``, newest first; ``user``: those
    it did or that were done to it."""
    query = select(SecurityEvent)
    if since is not None:
        query = query.where(_table.c.occurred_at >= since)
    if until is not None:
        query = query.where(_table.c.occurred_at < until)
    if kind is not None:
        query = query.where(_table.c.kind == SecurityEventKind(kind).value)
    if user is not None:
        query = query.where(or_(_table.c.actor == user, _table.c.subject == user))
    query = query.order_by(_table.c.occurred_at.desc(), _table.c.id.desc()).limit(limit)
    with Session(engine) as session:
        return list(session.scalars(query).all())


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:COLUMN_CHARS]


def _refuse_secrets(value: object) -> None:
    """Raise ValueError if a string in ``value`` (keys too, nested too) looks like a secret."""
    if isinstance(value, str):
        if _SECRET_LIKE.search(value):
            raise ValueError("security_event details must not hold a token or a digest")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_secrets(key)
            _refuse_secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_secrets(item)
