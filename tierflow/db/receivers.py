"""Columns for rows projected without them by a worker of the release before, still running
during a rolling upgrade after the migration that added them (and filled the rows before it):
首问负责's units (0030, ``tierflow db fill-receivers``) and the conclusion's rating (0032,
``tierflow db fill-ratings``). Both are idempotent and touch only the rows that lack what the
audit trail or the rating table names.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from tierflow.db.engine import begin_write

# the unit whose caseworker or lead registered the request (schemas.permissions.HANDLER_ROLES)
_REGISTERED = text(
    "UPDATE service_request SET registered_by = (SELECT t.actor_institution_id "
    "FROM transition t WHERE t.request_id = service_request.request_id "
    "AND t.event_type = 'submitted' AND t.actor_role IN ('caseworker', 'supervisor') "
    "ORDER BY t.sequence LIMIT 1) "
    "WHERE registered_by IS NULL AND EXISTS (SELECT 1 FROM transition t "
    "WHERE t.request_id = service_request.request_id AND t.event_type = 'submitted' "
    "AND t.actor_role IN ('caseworker', 'supervisor') AND t.actor_institution_id IS NOT NULL)"
)
# the unit the request was first sent to: its one ``assigned`` event's
_FIRST_HOLDER = text(
    "UPDATE service_request SET first_holder = (SELECT t.institution_id FROM transition t "
    "WHERE t.request_id = service_request.request_id AND t.event_type = 'assigned' "
    "ORDER BY t.sequence LIMIT 1) "
    "WHERE first_holder IS NULL AND EXISTS (SELECT 1 FROM transition t "
    "WHERE t.request_id = service_request.request_id AND t.event_type = 'assigned' "
    "AND t.institution_id IS NOT NULL)"
)


def fill_receivers(engine: Engine) -> int:
    """Fill ``registered_by`` and ``first_holder`` where the audit trail names them and the
    row lacks them; return how many values were written."""
    with begin_write(engine) as conn:
        registered = conn.execute(_REGISTERED).rowcount
        first = conn.execute(_FIRST_HOLDER).rowcount
    return int(registered or 0) + int(first or 0)


# 好差评: the conclusion's latest rating (migration 0032's fill, for rows a worker of the
# release before projected after it)
_RATING = text(
    "UPDATE service_request SET rating = (SELECT r.rating FROM rating r "
    "WHERE r.request_id = service_request.request_id AND r.stage = 'conclusion' "
    "ORDER BY r.created_at DESC, r.id DESC LIMIT 1) "
    "WHERE rating IS NULL AND EXISTS (SELECT 1 FROM rating r "
    "WHERE r.request_id = service_request.request_id AND r.stage = 'conclusion')"
)


def fill_ratings(engine: Engine) -> int:
    """Fill ``rating`` (the conclusion's) where the rating table has one and the row lacks
    it; return how many rows were written."""
    with begin_write(engine) as conn:
        return int(conn.execute(_RATING).rowcount or 0)
