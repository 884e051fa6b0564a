"""Search: pg_trgm GIN indexes on service_request.enterprise_name and subject (PostgreSQL)

They serve ILIKE '%…%' for the queue's search box. pg_trgm ships with PostgreSQL (Debian's
postgresql package: extension files under /usr/share/postgresql/<major>/extension) and is a
trusted extension: the database owner may create it. It finds Chinese characters only when the
database's LC_CTYPE is a UTF-8 locale (C.UTF-8, zh_CN.UTF-8); under LC_CTYPE C it ignores them
and the search is answered by a scan. SQLite searches with LIKE; nothing to do there.

Revision ID: 0009_request_search
Revises: 0008_enterprise_grades
Create Date: 2026-12-02
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_request_search"
down_revision: str | None = "0008_enterprise_grades"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_service_request_name_trgm": "enterprise_name",
    "ix_service_request_subject_trgm": "subject",
}
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON service_request "
            f"USING gin ({column} gin_trgm_ops)"
        )
    ctype = bind.execute(
        sa.text("SELECT datctype FROM pg_database WHERE datname = current_database()")
    ).scalar()
    if ctype in ("C", "POSIX"):
        log.warning(
            "database LC_CTYPE is %s: pg_trgm ignores Chinese characters, so searching names "
            "and subjects scans the table; create the database with LC_CTYPE 'C.UTF-8'",
            ctype,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
