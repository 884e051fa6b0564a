"""Search: two-character pieces of enterprise names and subjects, indexed (PostgreSQL)

A two-character term (a brand such as 启明, a city such as 杭州) has no trigram, so the pg_trgm
indexes of 0009 cannot answer it and the search read every row. ``tierflow_bigrams(text)``
returns a value's distinct two-character pieces; a GIN index over them answers "contains this
two-character term" exactly (a two-character substring is one of the pieces). The function
does not fold case: the search uses it only for terms without letters that have a case.
SQLite searches with LIKE; nothing to do there.

Revision ID: 0014_search_bigrams
Revises: 0013_assessment_indexes
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_search_bigrams"
down_revision: str | None = "0013_assessment_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_service_request_name_bigrams": "enterprise_name",
    "ix_service_request_subject_bigrams": "subject",
}
FUNCTION = """
CREATE OR REPLACE FUNCTION tierflow_bigrams(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(value, i, 2)), '{}')
  FROM generate_series(1, char_length(value) - 1) AS i
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    for name, column in INDEXES.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON service_request "
            f"USING gin (tierflow_bigrams({column}))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS tierflow_bigrams(text)")
