"""rating: an intake rating given before any unit answered belongs to the unit that did

The enterprise may rate the intake (受理评价) as soon as its request is sent to a unit. A
rating given before a unit answered stayed with the unit holding the request then, even when
another unit (after a 退单, say) did the 受理 later. The projection now charges such ratings
when the 受理 comes; this charges the ones stored before, as 0026 did for the others.

Revision ID: 0036_late_intake_charge
Revises: 0035_submission_digest
Create Date: 2026-12-06
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0036_late_intake_charge"
down_revision: str | None = "0035_submission_digest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the same charge as 0026's (its name starts with a digit)
INTAKE_UNIT = importlib.import_module("tierflow.db.migrations.versions.0026_intake_rating_unit")


def upgrade() -> None:
    INTAKE_UNIT.backfill(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: the unit a rating belongs to is data, not schema."""
