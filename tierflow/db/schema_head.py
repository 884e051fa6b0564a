"""The read model's schema revision this release's code needs, without importing Alembic.

Revisions are files in ``migrations/versions`` whose names, like their revision ids, begin
with their number (a linear history: ``tests/unit/test_schema_head.py`` checks both against
Alembic), so the head is the highest number. Processes compare it with the number of the
database's ``alembic_version``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def schema_head() -> str:
    """The number of the newest revision this release's migrations reach (``0029``)."""
    versions = resources.files("tierflow.db").joinpath("migrations", "versions")
    return max(p.name[:4] for p in versions.iterdir() if p.name[:4].isdigit())


def behind(revision: str | None) -> bool:
    """Whether a database at ``revision`` (None: never migrated) predates this release's
    schema; a newer one is not (its release's processes may still be rolling out)."""
    return revision is None or revision[:4] < schema_head()
