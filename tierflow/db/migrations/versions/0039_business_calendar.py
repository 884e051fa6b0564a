"""business_calendar: the days off of every calendar pinned or published, by version

A what-if rebuilt a request's calendar from the installed ``holidays`` data, and did not
replay a calendar an operator published to it: after an upgrade of that data, or a
publication, ``tierflow whatif --verify`` disagreed with what production did. Workers now
record the calendars they pin, and ``tierflow calendar publish`` the one it publishes. The
table starts empty: calendars pinned before are the installed data's until recorded.

Revision ID: 0039_business_calendar
Revises: 0038_untimed_sign_fors
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_business_calendar"
down_revision: str | None = "0038_untimed_sign_fors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "business_calendar",
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )


def downgrade() -> None:
    """Drop the recorded calendars (a what-if then rebuilds them from the installed data)."""
    op.drop_table("business_calendar")
