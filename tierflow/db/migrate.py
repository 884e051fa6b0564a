"""Alembic migrations run from code: the CLI's ``tierflow db``, the dev stack and the tests.

Apart from ``tierflow.db.engine`` because Alembic pulls in Mako and Pygments (about 150 ms
at import), which the worker, ingress, notifier and API processes never use.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from tierflow.db.engine import make_engine, normalize_url


def alembic_config(url: str) -> Config:
    """Return the packaged Alembic config pointed at ``url``."""
    base = resources.files("tierflow.db")
    config = Config(str(base.joinpath("alembic.ini")))
    config.set_main_option("script_location", str(base.joinpath("migrations")))
    config.attributes["database_url"] = normalize_url(url)  # not the ini: '%' would need escaping
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops everything)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """Return the revision the database is at, or None if it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
