"""Console sessions, kept server-side: the browser holds a random id, the database its digest.

A session is not the API token it was opened with: it ends after an idle time, at an absolute
time, on sign-out (revoked in the database, so a copied cookie stops working too), and as soon
as its token is revoked or expires.

Signing in, a refused sign-in, signing out and an expiry (once a request with the session's
cookie finds it ended) are security audit records (``tierflow.security_log``), written in the
transaction that changes the session. ``address`` is the client's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from tierflow import security_log
from tierflow.auth_store import Principal, TokenRefused, principal_of_token_id
from tierflow.db.auth_models import ConsoleSession, SecurityEventKind
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


def open_session(
    engine: Engine,
    principal: Principal,
    now: datetime,
    policy: SessionPolicy,
    address: str | None = None,
) -> str:
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
        security_log.record(
            session,
            SecurityEventKind.SIGN_IN,
            actor=principal.user_id,
            subject=principal.user_id,
            address=address,
            details={"token_id": principal.token_id, "via": "console"},
            now=now,
        )
        session.commit()
    return session_id


def refused_sign_in(
    engine: Engine, refused: TokenRefused, address: str | None, now: datetime
) -> None:
    """Record a sign-in refused for its token: nobody signed in; a real token names its user."""
    details: dict[str, object] = {"reason": refused.reason, "via": "console"}
    if refused.token_id is not None:
        details["token_id"] = refused.token_id
    security_log.record(
        engine,
        SecurityEventKind.SIGN_IN_FAILED,
        actor=None,
        subject=refused.user_id,
        address=address,
        details=details,
        now=now,
    )


def resume_session(
    engine: Engine,
    session_id: str,
    now: datetime,
    policy: SessionPolicy,
    address: str | None = None,
) -> Principal | None:
    """Return the principal of a live session and mark it seen; None when it has ended (the
    first to find it expired ends it and records so)."""
    if not session_id:
        return None
    with Session(engine) as session:
        row = session.get(ConsoleSession, _digest(session_id))
        if row is None or row.revoked_at is not None:
            return None
        if (end := _end(row, now, policy)) is not None:
            _expire(session, row, end, now, address)
            return None
        token_id = row.token_id
        row.last_seen_at = now
        session.add(row)
        session.commit()
    try:
        return principal_of_token_id(engine, token_id, now)
    except TokenRefused:
        return None


def close_session(
    engine: Engine, session_id: str, now: datetime, address: str | None = None
) -> bool:
    """Revoke the session server-side; return False if there was none to revoke."""
    if not session_id:
        return False
    with Session(engine) as session:
        row = session.get(ConsoleSession, _digest(session_id))
        if row is None or not _revoke(session, row, now):
            return False
        security_log.record(
            session,
            SecurityEventKind.SIGN_OUT,
            actor=row.user_id,
            subject=row.user_id,
            address=address,
            details={"token_id": row.token_id, "via": "console"},
            now=now,
        )
        session.commit()
        return True


def _end(row: ConsoleSession, now: datetime, policy: SessionPolicy) -> tuple[datetime, str] | None:
    """When the session ended and why (``idle``, ``absolute``), or None if it goes on."""
    ends = sorted([(row.last_seen_at + policy.idle, "idle"), (row.expires_at, "absolute")])
    return ends[0] if now >= ends[0][0] else None


def _expire(
    session: Session,
    row: ConsoleSession,
    end: tuple[datetime, str],
    now: datetime,
    address: str | None,
) -> None:
    """End an expired session at the time it ended and record so, once."""
    ended_at, reason = end
    if not _revoke(session, row, ended_at):
        return  # another request found it first
    noticed = now.astimezone(UTC).isoformat(timespec="seconds")
    security_log.record(
        session,
        SecurityEventKind.SESSION_EXPIRED,
        actor=None,
        subject=row.user_id,
        address=address,
        details={"reason": reason, "token_id": row.token_id, "noticed_at": noticed},
        now=ended_at,
    )
    session.commit()


def _revoke(session: Session, row: ConsoleSession, at: datetime) -> bool:
    """Mark the session ended at ``at`` unless it already is; whether this call did."""
    ended = session.connection().execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.id_hash) == row.id_hash)
        .where(col(ConsoleSession.revoked_at).is_(None))
        .values(revoked_at=at)
    )
    return ended.rowcount == 1
