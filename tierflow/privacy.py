"""Erase enterprises' contact persons from the read model once their requests have ended (PIPL).

A request's ``contact_name``, ``contact_phone`` and ``contact_email`` are what its unit needs
to reach the enterprise while the request runs. Once it has ended (closed, rejected or
withdrawn) they are erased: after a retention (``erase_contacts``, run daily) or when the
enterprise asks (``erase_enterprise``, 个人信息删除请求). An open request keeps its contact
until it ends. Each erasure is recorded in ``contact_erasure`` (when, by whom, why); the rest
of the request and its audit trail stay.

A request ended when it was closed (``closed_at``); a rejected or withdrawn one has no end
time of its own in the read model, so its last update stands for it (``updated_at``, at or
after the end: its retention runs no shorter). Erasure goes in batches of ``BATCH`` rows, each
its own transaction, so a large table is never held in one long one; a request whose
contact is erased (all three fields NULL) is not taken again, so a second run erases nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, func, or_, select, update
from sqlmodel import SQLModel

from schemas.domain import TERMINAL_STATES
from schemas.enterprise import validate_uscc
from tierflow.db.engine import begin_write, conflict_insert
from tierflow.db.models import ContactErasure, ErasureBasis, ServiceRequest
from tierflow.grades import SHANGHAI, local_day

BATCH = 500  # requests erased per transaction
CONTACT_FIELDS = ("contact_name", "contact_phone", "contact_email")

_request: Table = SQLModel.metadata.tables[ServiceRequest.__tablename__]
_erasure: Table = SQLModel.metadata.tables[ContactErasure.__tablename__]
_ENDED = _request.c.state.in_(sorted(TERMINAL_STATES))
_HAS_CONTACT = or_(*(_request.c[name].is_not(None) for name in CONTACT_FIELDS))
# when the request ended: closed_at, else its last update (rejected, withdrawn)
ENDED_AT = func.coalesce(_request.c.closed_at, _request.c.updated_at)


def day_start(day: date) -> datetime:
    """The instant China's ``day`` begins (midnight in Asia/Shanghai)."""
    return datetime.combine(day, time(0), SHANGHAI)


def retention_cutoff(now: datetime, days: int) -> datetime:
    """The ``ended_before`` that keeps a contact ``days`` whole China days after its request
    ended: the start of the day ``days`` days before ``now``'s day."""
    return day_start(local_day(now) - timedelta(days=days))


def erase_contacts(
    engine: Engine, *, ended_before: datetime, by: str, now: datetime, batch: int = BATCH
) -> int:
    """Erase the contacts of requests that ended before ``ended_before``; return how many."""
    ended = ENDED_AT < ended_before
    return _erase(engine, [ended], ErasureBasis.RETENTION, by, now, batch)


def erase_enterprise(
    engine: Engine, *, uscc: str, by: str, now: datetime, batch: int = BATCH
) -> tuple[int, int]:
    """Erase the contacts of an enterprise's ended requests at its request; return how many,
    and how many of its open requests keep theirs until they end.

    Raises ValueError (a TranslatableError) for a code that is not a valid USCC."""
    code = validate_uscc(uscc.strip().upper())
    its = _request.c.enterprise_uscc == code
    erased = _erase(engine, [its], ErasureBasis.REQUEST, by, now, batch)
    with engine.connect() as conn:
        still_open = conn.execute(
            select(func.count()).select_from(_request).where(its, ~_ENDED, _HAS_CONTACT)
        ).scalar_one()
    return erased, still_open


def _erase(
    engine: Engine,
    conditions: Sequence[ColumnElement[bool]],
    basis: ErasureBasis,
    by: str,
    now: datetime,
    batch: int,
) -> int:
    """Erase the contacts of ended requests meeting ``conditions``, ``batch`` at a time in
    request id order (each batch starts after the last id the one before took)."""
    wanted = [_ENDED, _HAS_CONTACT, *conditions]
    erased, after = 0, ""
    while True:
        with begin_write(engine) as conn:
            ids = list(
                conn.execute(
                    select(_request.c.request_id)
                    .where(_request.c.request_id > after, *wanted)
                    .order_by(_request.c.request_id)
                    .limit(batch)
                ).scalars()
            )
            if not ids:
                return erased
            done = list(
                conn.execute(
                    update(_request)
                    .where(_request.c.request_id.in_(ids), *wanted)  # as they stand now
                    .values(dict.fromkeys(CONTACT_FIELDS))
                    .returning(_request.c.request_id)
                ).scalars()
            )
            if done:
                conn.execute(_record(conn.dialect.name), _rows(done, basis, by, now))
        erased += len(done)
        if len(ids) < batch:
            return erased
        after = ids[-1]


def _record(dialect_name: str) -> Any:
    """The erasure rows' insert; a request erased again (its contact written anew) keeps the
    latest erasure."""
    ins = conflict_insert(_erasure, dialect_name)
    latest = {k: ins.excluded[k] for k in ("erased_at", "erased_by", "basis")}
    return ins.on_conflict_do_update(index_elements=["request_id"], set_=latest)


def _rows(ids: list[str], basis: ErasureBasis, by: str, now: datetime) -> list[dict[str, Any]]:
    return [{"request_id": i, "erased_at": now, "erased_by": by, "basis": basis} for i in ids]
