"""The enterprise grade registry: which grade an enterprise really holds on a given day.

Operators import the published lists (``tierflow grades import``, see ``grades_csv``) and
record withdrawals; ``load_policy`` asks :meth:`GradeRegistry.grade_on` at submission, so a
declared grade the registry does not confirm is kept on record but never shortens an SLA.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from schemas.domain import Grade
from tierflow.db.grade_models import SOURCE_LENGTH, EnterpriseGrade, EnterpriseGradeBase
from tierflow.i18n import N_, TranslatableError

SHANGHAI = ZoneInfo("Asia/Shanghai")
LADDER = [Grade.NONE, Grade.INNOVATIVE, Grade.SPECIALIZED_NEW, Grade.LITTLE_GIANT]


class GradeError(TranslatableError):
    """A withdrawal or import the registry cannot take (the message says why, in English as
    ``str()`` and in the operator's language in the CLI)."""


def local_day(moment: datetime) -> date:
    """Return the calendar day of ``moment`` in Asia/Shanghai (the day lists are dated in)."""
    return moment.astimezone(SHANGHAI).date()


def valid_on(day: date) -> list[Any]:
    """Return SQL conditions: the recognition holds on ``day``."""
    return [
        col(EnterpriseGrade.granted_on) <= day,
        or_(col(EnterpriseGrade.valid_until).is_(None), col(EnterpriseGrade.valid_until) >= day),
        or_(col(EnterpriseGrade.withdrawn_on).is_(None), col(EnterpriseGrade.withdrawn_on) > day),
    ]


def recognitions(session: Session, uscc: str, day: date | None = None) -> list[EnterpriseGrade]:
    """Return the enterprise's recognitions (only those valid on ``day`` if given)."""
    query = select(EnterpriseGrade).where(EnterpriseGrade.uscc == uscc)
    if day is not None:
        query = query.where(*valid_on(day))
    order = (col(EnterpriseGrade.granted_on), col(EnterpriseGrade.id))
    return list(session.exec(query.order_by(*order)).all())


def highest(rows: Iterable[EnterpriseGradeBase]) -> Grade:
    """Return the highest grade on the ladder among ``rows`` (none if there are none)."""
    return max((row.grade for row in rows), key=LADDER.index, default=Grade.NONE)


# What only a withdrawal writes: a row of the published list of grants leaves them alone
WITHDRAWAL_FIELDS = frozenset({"withdrawn_on", "withdrawal_reason"})


def upsert(
    session: Session, rows: Iterable[EnterpriseGradeBase], source: str, *, by: str | None = None
) -> tuple[int, int]:
    """Insert or update recognitions by (uscc, grade, level, granted_on); caller commits.

    An update writes the row as the file has it (a corrected list may clear an end date it
    gave by mistake); a withdrawal already recorded stays unless the row brings one of its
    own: the published list of grants does not undo a withdrawal. ``by``: who imports it, kept
    on each row it writes. Returns (added, updated).
    """
    added = updated = 0
    now = datetime.now(UTC)
    source = source[-SOURCE_LENGTH:]  # a long path keeps its end: the file's own name
    for row in rows:
        found = session.exec(
            select(EnterpriseGrade).where(
                EnterpriseGrade.uscc == row.uscc,
                EnterpriseGrade.grade == row.grade,
                EnterpriseGrade.level == row.level,
                EnterpriseGrade.granted_on == row.granted_on,
            )
        ).first()
        data = row.model_dump()
        if found is not None and row.withdrawn_on is None:  # grants do not undo a withdrawal
            data = {k: v for k, v in data.items() if k not in WITHDRAWAL_FIELDS}
        if found is None:
            session.add(EnterpriseGrade(**data, source=source, imported_at=now, imported_by=by))
            added += 1
            continue
        found.sqlmodel_update(data | {"source": source, "imported_at": now, "imported_by": by})
        session.add(found)
        updated += 1
    return added, updated


def withdraw(
    session: Session,
    uscc: str,
    reason: str,
    on: date,
    grade: Grade | None = None,
    *,
    by: str | None = None,
) -> list[EnterpriseGrade]:
    """Withdraw the enterprise's recognitions valid on ``on`` (one grade or all), recording
    ``by`` as who did; caller commits."""
    if not reason.strip():
        raise GradeError(N_("reason: a withdrawal needs a reason"))
    rows = [r for r in recognitions(session, uscc, on) if grade is None or r.grade == grade]
    if not rows:
        if grade is None:
            raise GradeError(
                N_("%(uscc)s holds no recognition valid on %(day)s"), uscc=uscc, day=on.isoformat()
            )
        raise GradeError(
            N_("%(uscc)s holds no %(grade)s recognition valid on %(day)s"),
            uscc=uscc,
            grade=grade.value,
            day=on.isoformat(),
        )
    now = datetime.now(UTC)
    for row in rows:
        row.withdrawn_on, row.withdrawal_reason, row.withdrawn_at = on, reason.strip(), now
        row.withdrawn_by = by
        session.add(row)
    return rows


class GradeRegistry:
    """The registry as ``load_policy`` reads it: built once per worker on its engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def grade_on(self, uscc: str | None, day: date) -> Grade:
        """Return the highest grade the enterprise holds on ``day`` (none if unconfirmed)."""
        if not uscc:
            return Grade.NONE
        with Session(self.engine) as session:
            return highest(recognitions(session, uscc.upper(), day))
