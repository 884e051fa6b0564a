"""request_part: parts still open on a request that ended are closed

A request withdrawn, rejected or closed for no reply while a co-handling unit's part was open
left the part open in the read model, so the unit kept the request, and its enterprise's
contact, in its scope. The projection now ends such parts with the request; this closes the
ones left before, at the request's last update, marked with how it ended.

Revision ID: 0034_parts_end_with_request
Revises: 0033_scope_division
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_parts_end_with_request"
down_revision: str | None = "0033_scope_division"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENDED = """
UPDATE request_part
SET closed_at = (SELECT r.updated_at FROM service_request r WHERE r.request_id = request_part.request_id),
    closed_by = (SELECT r.state FROM service_request r WHERE r.request_id = request_part.request_id)
WHERE closed_at IS NULL
  AND request_id IN (
    SELECT request_id FROM service_request WHERE state IN ('withdrawn', 'rejected', 'closed')
  )
"""


def upgrade() -> None:
    op.execute(sa.text(ENDED))


def downgrade() -> None:
    """Nothing to undo: a part of an ended request has nothing left to do."""
