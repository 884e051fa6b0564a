"""Alembic environment: SQLModel metadata, batch mode on SQLite, URL from code or Settings."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import tierflow.db.auth_models  # noqa: F401 - registers the API auth tables
import tierflow.db.grade_models  # noqa: F401 - registers the grade registry
import tierflow.db.models  # noqa: F401 - registers the tables on SQLModel.metadata
import tierflow.db.notification_models  # noqa: F401 - registers the notifier's tables
from tierflow.db.engine import make_engine
from tierflow.db.search import include_object
from tierflow.db.types import EnumText, UtcDateTime
from tierflow.settings import Settings

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    return Settings().resolved_database_url


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our column types as the plain SQLAlchemy types they store."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EnumText):
        return f"sa.String(length={obj.impl.length})"
    if type_ == "type" and type(obj).__module__.startswith("sqlmodel"):
        autogen_context.imports.add("import sqlmodel")
    return False


LOCK_TIMEOUT = "30s"


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        include_object=include_object,
        **kwargs,
    )


def run_offline() -> None:
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                # wait this long at most for a table's lock (behind a long report, say), then
                # fail: every reader would otherwise queue behind the waiting migration
                connection.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
                connection.commit()
            _configure(
                connection=connection,
                render_as_batch=connection.dialect.name == "sqlite",
                # each revision commits on its own: tables are locked for one step, not the
                # whole upgrade, and a failed upgrade resumes from the last step it completed
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
