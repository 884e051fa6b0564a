"""The ``tierflow`` command: processes, database, events and the caseworker client.

Developer tooling (``tierflow dev``, ``tierflow bench``, ...) lives in its own distribution
and joins through the ``tierflow.cli`` entry points (see ``tierflow.cli.plugins``), so the
production image runs this command without it.
"""

from __future__ import annotations

import typer

from tierflow.cli import (
    admin,
    audit,
    calendar,
    client,
    db,
    directory,
    events,
    grades,
    plugins,
    policy,
    privacy,
    processes,
    reports,
    temporal,
    texts,
    whatif,
)
from tierflow.cli.database import command_failure
from tierflow.cli.leaving import leave

texts.speak_typer()  # help pages and usage errors in the reader's language (tierflow.cli.texts)
app = typer.Typer(help="tierflow: durable service-request lifecycles", no_args_is_help=True)
app.add_typer(db.app, name="db")
app.add_typer(events.app, name="events")
app.add_typer(directory.app, name="directory")
app.add_typer(calendar.app, name="calendar")
app.add_typer(grades.app, name="grades")
app.add_typer(policy.app, name="policy")
app.add_typer(privacy.app, name="privacy")
app.add_typer(reports.app, name="reports")
app.add_typer(temporal.app, name="temporal")
app.add_typer(audit.app, name="audit")
processes.register(app)
client.register(app)
admin.register(app)
whatif.register(app)
plugins.load(app, {"db": db.app, "events": events.app, "directory": directory.app})


def main() -> None:
    """The ``tierflow`` command (console script and ``python -m tierflow.cli``)."""
    try:
        app(prog_name="tierflow")
    except SystemExit as done:
        leave(done.code)
    except Exception as exc:  # a database's error, a dependency away: one line, no traceback
        said = command_failure(exc)
        if said is None:
            raise
        typer.echo(said, err=True)
        leave(1)
    leave(0)
