"""首问负责's columns for rows projected without them: by a worker of the release before, still
running during a rolling upgrade after migration 0030 (which filled the rows before it).

``tierflow db fill-receivers`` runs it; it is idempotent, and touches only the rows that lack
the unit their audit trail names.
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
