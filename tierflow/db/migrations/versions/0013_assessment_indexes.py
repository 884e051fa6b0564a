"""考核 by period: the assessment reads events, stays and ratings by when they happened

Revision ID: 0013_assessment_indexes
Revises: 0012_rating_excluded
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_assessment_indexes"
down_revision: str | None = "0012_rating_excluded"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transition_type_occurred", "transition", ["event_type", "occurred_at"])
    op.create_index("ix_tier_hold_since", "tier_hold", ["since"])
    op.create_index("ix_rating_created_at", "rating", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_rating_created_at", "rating")
    op.drop_index("ix_tier_hold_since", "tier_hold")
    op.drop_index("ix_transition_type_occurred", "transition")
