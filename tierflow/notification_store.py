"""A user's in-app inbox and notification preferences: what the API and the console read.

The notifier writes the rows; people only read them, mark them read and set their
preferences. Every function takes the calling user's id: nobody reaches another's inbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from tierflow.db.engine import begin_write
from tierflow.db.notification_models import (
    Channel,
    Notification,
    NotificationPreference,
    PreferencePublic,
)

_table = Notification.__table__  # type: ignore[attr-defined]


def _inbox(user_id: str) -> Any:
    return (Notification.user_id == user_id, Notification.channel == Channel.INBOX)


def list_inbox(
    engine: Engine, user_id: str, *, unread_only: bool = False, limit: int = 50, offset: int = 0
) -> list[Notification]:
    """Return the user's inbox entries, newest first."""
    query = select(Notification).where(*_inbox(user_id))
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    query = query.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
    with Session(engine) as session:
        return list(session.exec(query.offset(offset).limit(limit)).all())


def count_unread(engine: Engine, user_id: str, at_most: int | None = None) -> int:
    """Return how many of the user's inbox entries are unread; counting stops at ``at_most``
    (the badge shows 99+: a supervisor may have tens of thousands, counted on every page)."""
    unread = select(Notification.id).where(*_inbox(user_id), col(Notification.read_at).is_(None))
    if at_most is not None:
        unread = unread.limit(at_most)
    query = select(func.count()).select_from(unread.subquery())
    with Session(engine) as session:
        return int(session.exec(query).one())


def mark_read(engine: Engine, user_id: str, now: datetime, ids: list[int] | None = None) -> int:
    """Mark the user's unread entries ``ids`` (all if None) read; return how many changed."""
    condition = [
        _table.c.user_id == user_id,
        _table.c.channel == Channel.INBOX.value,
        _table.c.read_at.is_(None),
    ]
    if ids is not None:
        condition.append(_table.c.id.in_(ids))
    with begin_write(engine) as conn:
        return int(conn.execute(update(_table).where(*condition).values(read_at=now)).rowcount)


def owns(engine: Engine, user_id: str, notification_id: int) -> bool:
    """True if ``notification_id`` is an inbox entry of the user."""
    with Session(engine) as session:
        row = session.get(Notification, notification_id)
    return row is not None and row.user_id == user_id and row.channel == Channel.INBOX


def get_preference(engine: Engine, user_id: str) -> PreferencePublic:
    """Return the user's preferences (the defaults if they never set any)."""
    with Session(engine) as session:
        row = session.get(NotificationPreference, user_id)
    if row is None:
        return PreferencePublic(user_id=user_id)
    return PreferencePublic.model_validate(row, from_attributes=True)


def set_preference(
    engine: Engine, user_id: str, values: dict[str, Any], now: datetime
) -> PreferencePublic:
    """Change the given preference fields (validated by the caller); return the result."""
    with Session(engine) as session:
        row = session.get(NotificationPreference, user_id)
        if row is None:
            row = NotificationPreference(user_id=user_id, updated_at=now)
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
        session.add(row)
        session.commit()
        session.refresh(row)
        return PreferencePublic.model_validate(row, from_attributes=True)
