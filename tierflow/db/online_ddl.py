"""Migration steps that keep a large table readable and writable while they run (PostgreSQL).

A revision runs in one transaction, and ``ADD COLUMN`` takes the table's ACCESS EXCLUSIVE lock
until it commits: a backfill of every row in the same transaction kept every reader of
``service_request`` waiting for it (a minute and more on a province's year), and a plain
``CREATE INDEX`` stops the table's writes while it builds. So a backfill runs after the
revision's DDL has committed, in a transaction of its own (readers see the rows as they were;
only writes to the rows it updates wait), and indexes are built ``CONCURRENTLY``. Each step can
run again after a failure of a later one (the revision is not recorded until its end). SQLite,
a single writer with no such locks, runs the same steps plainly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def add_columns(table: str, *columns: sa.Column) -> None:
    """Add nullable columns (a moment's lock); again on a revision that failed after them, as
    their DDL has committed by then."""
    if not _postgres():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(column)
        return
    for column in columns:
        op.add_column(table, column, if_not_exists=True)


def fill(statement: str) -> None:
    """Run a backfill ``UPDATE`` once the revision's DDL has committed (idempotent updates only:
    a failed revision runs again from its start)."""
    if not _postgres():
        op.execute(statement)
        return
    with op.get_context().autocommit_block():
        op.execute(statement)


def create_index(name: str, table: str, columns: list[str], where: str | None = None) -> None:
    """Create an index (partial where ``where`` is given) without stopping the table's writes;
    an invalid one a failed concurrent build left behind is dropped first, a valid one kept.

    A concurrent build waits for the transactions older than it (a long report, a backup)
    as for a lock: it waits for them however long they take, not the upgrade's lock timeout."""
    condition = sa.text(where) if where is not None else None
    if not _postgres():
        op.create_index(name, table, columns, sqlite_where=condition)
        return
    valid = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name"
            ),
            {"name": name},
        )
        .scalar()
    )
    if valid:
        return
    with op.get_context().autocommit_block():
        timeout = op.get_bind().execute(sa.text("SHOW lock_timeout")).scalar()
        op.execute("SET lock_timeout = 0")
        try:
            if valid is not None:
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.create_index(
                name, table, columns, postgresql_where=condition, postgresql_concurrently=True
            )
        finally:
            op.execute(f"SET lock_timeout = '{timeout}'")
