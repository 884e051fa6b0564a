"""service_request.registered_by, first_holder: the unit that received a request first

首问负责: a unit follows, read only, the requests it registered at its window or was first
sent, wherever they are held now (``api.auth.received_by``). The read model did not say
which unit that was; the rows of requests projected before take it from their audit trail
(the ``submitted`` event's acting unit, the ``assigned`` event's unit).

Revision ID: 0030_first_receiver
Revises: 0029_security_event
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tierflow.db import online_ddl

revision: str = "0030_first_receiver"
down_revision: str | None = "0029_security_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HANDLERS = "('caseworker', 'supervisor')"  # schemas.permissions.HANDLER_ROLES


def upgrade() -> None:
    # the columns, then the backfill and the indexes after they committed: readers of
    # service_request are not held for the whole fill (``tierflow.db.online_ddl``)
    online_ddl.add_columns(
        "service_request",
        sa.Column("registered_by", sa.String(length=64), nullable=True),
        sa.Column("first_holder", sa.String(length=64), nullable=True),
    )
    online_ddl.fill(
        "UPDATE service_request SET "
        "registered_by = (SELECT t.actor_institution_id FROM transition t "
        "WHERE t.request_id = service_request.request_id AND t.event_type = 'submitted' "
        f"AND t.actor_role IN {HANDLERS} ORDER BY t.sequence LIMIT 1), "
        "first_holder = (SELECT t.institution_id FROM transition t "
        "WHERE t.request_id = service_request.request_id AND t.event_type = 'assigned' "
        "ORDER BY t.sequence LIMIT 1)"
    )
    online_ddl.create_index(
        "ix_service_request_registered_by", "service_request", ["registered_by"]
    )
    online_ddl.create_index("ix_service_request_first_holder", "service_request", ["first_holder"])


def downgrade() -> None:
    op.drop_index("ix_service_request_first_holder", table_name="service_request")
    op.drop_index("ix_service_request_registered_by", table_name="service_request")
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("first_holder")
        batch.drop_column("registered_by")
