"""Console sessions, kept server-side: the browser holds a random id, the database its digest.

A session is not the API token it was opened with: it ends after an idle time, at an absolute
time, on sign-out (revoked in the database, so a copied cookie stops working too), and as soon
as its token is revoked or expires.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from tierflow.auth_store import Principal, TokenRefused, principal_of_token_id
from tierflow.db.auth_models import ConsoleSession
from tierflow.settings import Settings


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives without a page (idle) and at most (absolute)."""

    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=settings.console_session_idle_minutes),
            absolute=timedelta(hours=settings.console_session_max_hours),
        )


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def open_session(engine: Engine, principal: Principal, now: datetime, policy: SessionPolicy) -> str:
    """Store a new session of ``principal`` and return its id (for the cookie only)."""
    session_id = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id_hash=_digest(session_id),
        user_id=principal.user_id,
        token_id=principal.token_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    with Session(engine) as session:
        session.add(row)
        session.commit()
    return session_id


def resume_session(
    engine: Engine, session_id: str, now: datetime, policy: SessionPolicy
) -> Principal | None:
    """Return the principal of a live session and mark it seen; None when it has ended."""
    if not session_id:
        return None
    with Session(engine) as session:
        row = session.get(ConsoleSession, _digest(session_id))
        if (
            row is None
            or row.revoked_at is not None
            or now >= row.expires_at
            or now >= row.last_seen_at + policy.idle
        ):
            return None
        token_id = row.token_id
        row.last_seen_at = now
        session.add(row)
        session.commit()
    try:
        return principal_of_token_id(engine, token_id, now)
    except TokenRefused:
        return None


def close_session(engine: Engine, session_id: str, now: datetime) -> bool:
    """Revoke the session server-side; return False if there was none to revoke."""
    if not session_id:
        return False
    with Session(engine) as session:
        row = session.get(ConsoleSession, _digest(session_id))
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = now
        session.add(row)
        session.commit()
        return True
