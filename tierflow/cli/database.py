"""The read model's database for a command, and who a command acts as in what it records.

Shared by the command groups that talk to the database (``policy``, ``directory``, ``admin``,
``grades``), so they open it, report its errors and name the operator the same way. Imports are
made inside the functions, as in the command modules: ``tierflow --help`` stays fast.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tierflow.cli.texts import _, fail, say
from tierflow.i18n import os_reason

if TYPE_CHECKING:
    from sqlalchemy import Engine


def open_engine() -> Engine:
    """Return an engine on the configured database (``TIERFLOW_DATABASE_URL``, else the local
    stack's SQLite file)."""
    from tierflow.db.engine import make_engine
    from tierflow.settings import Settings

    return make_engine(Settings().resolved_database_url)


@contextmanager
def database() -> Iterator[Engine]:
    """Yield an engine for one command and dispose of it after; a database error ends the
    command with the error's description (never its message: on PostgreSQL its first line can
    quote a value, a contact or a comment)."""
    from sqlalchemy.exc import SQLAlchemyError

    from tierflow.db.errors import describe_db_error

    engine = open_engine()
    try:
        yield engine
    except SQLAlchemyError as exc:
        fail(_("database: %(error)s") % {"error": describe_db_error(exc)})
    finally:
        engine.dispose()


OPERATOR_ENV = "TIERFLOW_OPERATOR"


def operator(*, check: bool = True) -> str:
    """Return who a command acts as in the records: ``cli:<the system user>``, which in a
    shared container is the same for every admin, after the admin account named by
    ``TIERFLOW_OPERATOR`` when set (an enabled admin, else the command fails): ``zhang.wei
    (cli:tierflow)``. The name is the admin's say, not proof: whoever can run the CLI there
    can name any admin. ``check`` off: no database to check the name against (a directory
    file written alone)."""
    try:
        system = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid
        system = "cli"
    named = os.environ.get(OPERATOR_ENV, "").strip()
    if named:  # the admin's word: recorded beside the system user who gave it
        return f"{admin_named(named, OPERATOR_ENV) if check else named} ({system})"
    return system


def admin_named(user_id: str, where: str) -> str:
    """``user_id`` if it is an enabled admin in the user table; else fail naming ``where``
    (the option or variable that named it) and why."""
    from sqlmodel import Session

    from schemas.domain import Role
    from tierflow.db.auth_models import ApiUser

    with database() as engine, Session(engine) as session:
        user = session.get(ApiUser, user_id)
    if user is None or user.disabled or user.role is not Role.ADMIN:
        fail(
            _("%(where)s: %(user)s is not an enabled admin user")
            % {"where": where, "user": user_id}
        )
    return user_id


def command_failure(exc: BaseException) -> str | None:
    """A line for a database error that escaped a command (one not opened by ``database()``,
    a database not migrated yet, a migration that cannot run), for a dependency away for
    the whole wait, or for a file a command could not write or read (a folder missing), in
    the reader's language; None for any other error."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from tierflow.db.errors import describe_db_error
    from tierflow.startup import DependencyUnavailable

    if isinstance(exc, SQLAlchemyError):
        said = _("database: %(error)s (a new database: run `tierflow db upgrade` first)")
        return said % {"error": describe_db_error(exc)}
    if isinstance(exc, CommandError):
        return _("database migration: %(error)s") % {"error": str(exc)[:300]}
    if isinstance(exc, DependencyUnavailable):  # Temporal (or Kafka) away the whole --wait
        return _("unreachable: %(error)s") % {"error": exc}
    if isinstance(exc, OSError) and exc.filename is not None:  # a file to write or read
        said = _("cannot use %(path)s: %(reason)s")
        return said % {"path": exc.filename, "reason": say(os_reason(exc))}
    return None
