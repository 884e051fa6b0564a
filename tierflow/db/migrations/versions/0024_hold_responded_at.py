"""tier_hold.responded_at: when the holding unit answered (受理) during its stay

The response rate (响应率) is measured over the stays that answered or missed their response
deadline; it counted every stay as answered in time unless its deadline was missed (a stay
escalated before it answered, a redo with no response due, one still waiting). Stays recorded
before take the first acknowledgement within them from the audit trail.

Revision ID: 0024_hold_responded_at
Revises: 0023_paused_until
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_hold_responded_at"
down_revision: str | None = "0023_paused_until"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE tier_hold SET responded_at = (
    SELECT min(t.occurred_at) FROM transition t
    WHERE t.request_id = tier_hold.request_id
      AND t.event_type = 'acknowledged'
      AND t.occurred_at >= tier_hold.since
      AND (tier_hold.until IS NULL OR t.occurred_at <= tier_hold.until)
)
"""


def upgrade() -> None:
    with op.batch_alter_table("tier_hold") as batch:
        batch.add_column(sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("tier_hold") as batch:
        batch.drop_column("responded_at")
