"""Indexes for 首问负责: the requests a unit received first

A unit follows, read only, the requests it registered at its window or was first sent, wherever
they are held now (``api.auth.received_by``): the audit trail is searched by the acting unit
and the stays by their unit.

Revision ID: 0030_first_receiver_indexes
Revises: 0029_security_event
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030_first_receiver_indexes"
down_revision: str | None = "0029_security_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_transition_actor_institution",
        "transition",
        ["actor_institution_id", "event_type"],
    )
    op.create_index("ix_tier_hold_institution", "tier_hold", ["institution_id", "request_id"])


def downgrade() -> None:
    op.drop_index("ix_tier_hold_institution", table_name="tier_hold")
    op.drop_index("ix_transition_actor_institution", table_name="transition")
