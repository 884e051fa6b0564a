"""Reads of the read model (queues, timelines, gauges) and the directory/policy seed writes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from schemas.domain import TERMINAL_STATES, State, Tier
from tierflow.db.engine import conflict_insert
from tierflow.db.models import (
    Comment,
    InstitutionCreate,
    InstitutionRow,
    Rating,
    ServiceRequest,
    SlaPolicyVersion,
    TierHoldRow,
    Transition,
)

OPEN_STATES = [s.value for s in State if not s.is_terminal and s is not State.RESOLVED]


def get_request(session: Session, request_id: str) -> ServiceRequest | None:
    return session.get(ServiceRequest, request_id)


def institution_queue(
    session: Session, institution_id: str, limit: int = 100, offset: int = 0
) -> list[ServiceRequest]:
    """Return an institution's open requests, the nearest resolution deadline first."""
    query = (
        select(ServiceRequest)
        .where(ServiceRequest.institution_id == institution_id)
        .where(col(ServiceRequest.state).in_(OPEN_STATES))
        .order_by(col(ServiceRequest.resolution_due_at).asc().nulls_last())
        .order_by(col(ServiceRequest.submitted_at))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(query).all())


def transitions(session: Session, request_id: str) -> list[Transition]:
    """Return the audit trail of one request in sequence order."""
    query = select(Transition).where(Transition.request_id == request_id)
    return list(session.exec(query.order_by(col(Transition.sequence))).all())


def action_transitions(session: Session, request_id: str, action_id: str) -> list[Transition]:
    """The audit trail's records of one action on the request, in their order."""
    query = select(Transition).where(
        Transition.request_id == request_id, Transition.action_id == action_id
    )
    return list(session.exec(query.order_by(col(Transition.sequence))).all())


def tier_holds(session: Session, request_id: str) -> list[TierHoldRow]:
    query = select(TierHoldRow).where(TierHoldRow.request_id == request_id)
    return list(session.exec(query.order_by(col(TierHoldRow.since), col(TierHoldRow.id))).all())


def comments(session: Session, request_id: str) -> list[Comment]:
    query = select(Comment).where(Comment.request_id == request_id)
    return list(session.exec(query.order_by(col(Comment.created_at), col(Comment.id))).all())


def ratings(session: Session, request_id: str) -> list[Rating]:
    query = select(Rating).where(Rating.request_id == request_id)
    return list(session.exec(query.order_by(col(Rating.created_at), col(Rating.id))).all())


def open_requests_by_tier(session: Session) -> dict[Tier, int]:
    """Return how many requests are open per tier (for a gauge computed at scrape time)."""
    query = (
        select(ServiceRequest.tier, func.count())
        .where(col(ServiceRequest.state).in_(OPEN_STATES))
        .group_by(ServiceRequest.tier)
    )
    counts = dict.fromkeys(Tier, 0)
    for tier, count in session.exec(query).all():
        counts[Tier(tier)] = int(count)
    return counts


def handled_by(session: Session, user_id: str, limit: int = 20) -> tuple[int, list[str]]:
    """How many unfinished requests ``user_id`` handles (承办人), and the first ``limit``
    ids: a leaver's, which their unit's lead or an admin gives to someone else."""
    unfinished = (
        col(ServiceRequest.handler_id) == user_id,
        col(ServiceRequest.state).not_in(sorted(TERMINAL_STATES)),
    )
    count = session.exec(select(func.count()).where(*unfinished)).one()
    ids = select(ServiceRequest.request_id).where(*unfinished).order_by(ServiceRequest.request_id)
    return int(count), list(session.exec(ids.limit(limit)).all())


def upsert_institutions(session: Session, institutions: Iterable[InstitutionCreate]) -> int:
    """Insert or update institutions by id; return how many were written. Caller commits.

    One upsert statement for them all: the national directory has thousands of institutions,
    and a read and a write per institution took seconds.
    """
    rows = [item.model_dump() for item in institutions]
    if not rows:
        return 0
    table = InstitutionRow.__table__  # type: ignore[attr-defined]
    insert = conflict_insert(table, session.get_bind().dialect.name)
    changed = {name: insert.excluded[name] for name in rows[0] if name != "id"}
    session.execute(insert.on_conflict_do_update(index_elements=["id"], set_=changed), rows)
    return len(rows)


def record_policy_version(session: Session, version: str, content: str) -> bool:
    """Store a policy version the first time it is seen; return True if it was new."""
    if session.get(SlaPolicyVersion, version) is not None:
        return False
    session.add(SlaPolicyVersion(version=version, loaded_at=datetime.now(UTC), content=content))
    return True
