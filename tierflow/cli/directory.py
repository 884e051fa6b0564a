"""`tierflow directory`: list, export and import the institution directory (CSV).

``update-divisions`` (regenerating the GB/T 2260 data) joins this group from the dev tooling.
What they print for people is in the operator's language (``tierflow.cli.texts``); the
listing's columns are codes and data and the export is the CSV, as they are. A refused file's
problems are worded as the console words them (``tierflow.directory_csv.worded``), by line and
column in the operator's language.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from schemas.domain import Tier
from tierflow.cli.database import database, open_engine, operator
from tierflow.cli.texts import _, catalog, explain, fail, say
from tierflow.directory_csv import VERSION_PATTERN
from tierflow.i18n import os_reason

if TYPE_CHECKING:
    from tierflow.directory import Directory

app = typer.Typer(
    help="The institution directory: list, CSV export and import.", no_args_is_help=True
)


def _file(path: Path | None) -> Path | None:
    from tierflow.settings import Settings

    return path or Settings().directory_file


CURRENT_HELP = "Directory JSON (default: the database's newest version, else settings)"


def _current(path: Path | None) -> Directory:
    """The directory JSON at ``path``; else the one workers route new requests with: the
    newest version in the database (where one is configured), else the settings' file."""
    from tierflow.directory import Directory
    from tierflow.directory_store import current_directory

    if path is not None:
        return Directory.load(path)
    if not _with_db(None):
        return current_directory(None, _file(None))
    with database() as engine:
        return current_directory(engine, _file(None))


@app.command("list")
def list_entries(
    directory: Path | None = typer.Option(None, help=CURRENT_HELP),
    generated: bool = typer.Option(False, "--generated", help="Only generated placeholders"),
    tier: Tier | None = typer.Option(None, help="Only this tier"),
    prefix: str = typer.Option("", help="Only division codes starting with this"),
) -> None:
    """List institutions (id, tier, division, name); --generated shows what needs real data."""
    from tierflow.directory import DirectoryError

    try:
        found = _current(directory)
    except DirectoryError as exc:
        fail(_("directory not loaded: %(reason)s") % {"reason": explain(exc)})
    rows = [
        e
        for e in found.entries
        if (not generated or e.generated)
        and (tier is None or e.tier is tier)
        and e.division_code.startswith(prefix)
    ]
    for e in rows:
        mark = "\t" + _("placeholder") if e.generated else ""
        cats = ",".join(c.value for c in e.categories) or "*"
        typer.echo(f"{e.id}\t{e.tier.value}\t{e.division_code}\t{cats}\t{e.name}{mark}")
    placeholders = sum(e.generated for e in found.entries)
    said = {
        "version": found.version,
        "shown": len(rows),
        "total": len(found.entries),
        "generated": placeholders,
    }
    summary = _(
        "# version %(version)s: %(shown)d of %(total)d institutions listed; "
        "%(generated)d of them are generated placeholders"
    )
    typer.echo(summary % said, err=True)


@app.command("export")
def export(
    out: Path | None = typer.Option(None, help="CSV file to write (default: stdout)"),
    directory: Path | None = typer.Option(None, help=CURRENT_HELP),
    with_generated: bool = typer.Option(False, help="Include generated placeholders"),
) -> None:
    """Write the directory as CSV (UTF-8; a file with a BOM, as Excel wants), one institution
    a row, header first."""
    from tierflow.csv_text import BOM
    from tierflow.directory import DirectoryError
    from tierflow.directory_csv import export_csv

    try:
        found = _current(directory)
    except DirectoryError as exc:
        fail(_("directory not loaded: %(reason)s") % {"reason": explain(exc)})
    text = export_csv(e for e in found.entries if with_generated or not e.generated)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(BOM + text, encoding="utf-8")  # a spreadsheet opens it as UTF-8
        done = _("%(file)s: directory version %(version)s exported")
        typer.echo(done % {"file": out, "version": found.version}, err=True)


def _with_db(use_db: bool | None) -> bool:
    """Whether to use the read model's database (``--db``: always; ``--no-db``: never;
    default: when TIERFLOW_DATABASE_URL is set or the local stack's SQLite file exists)."""
    from tierflow.settings import Settings

    if use_db is None:
        settings = Settings()
        use_db = bool(settings.database_url) or (settings.home / "tierflow.db").exists()
    return use_db


@app.command("import")
def import_(
    csv_file: Path = typer.Argument(..., help="CSV as written by `tierflow directory export`"),
    version: str | None = typer.Option(None, help="Version to record (default: a UTC timestamp)"),
    to: Path | None = typer.Option(
        None,
        help="Directory JSON to replace as well (default: TIERFLOW_DIRECTORY_FILE; "
        "none: the database only)",
    ),
    use_db: bool | None = typer.Option(
        None,
        "--db/--no-db",
        help="Record the version in the database and refresh its institution table "
        "(default: when a database is configured)",
    ),
    allow_removal: bool = typer.Option(
        False,
        "--allow-removal",
        help="Import even when it leaves out institutions that still hold requests not ended "
        "or have user accounts (refused otherwise, naming them)",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Check the file and say what the import would change, writing nothing",
    ),
) -> None:
    """Validate a CSV and make it the directory; workers pick it up within seconds.

    With a database, the version is recorded in directory_version (who, when, the whole
    directory), where every worker finds it, and the institution table refreshed; a directory
    file, where there is one, is replaced too, all or nothing.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from tierflow.csv_text import decode
    from tierflow.db.errors import describe_db_error
    from tierflow.directory import DirectoryError
    from tierflow.directory_store import import_directory

    target = _file(to)
    with_db = _with_db(use_db)
    if target is None and not with_db:
        fail(
            _(
                "nothing to import into: no database (set TIERFLOW_DATABASE_URL or pass --db) "
                "and no directory file (pass --to or set TIERFLOW_DIRECTORY_FILE)"
            )
        )
    try:
        text = decode(csv_file.read_bytes())  # UTF-8, or GB18030 as Excel saves it in China
    except OSError as exc:
        cannot = _("%(file)s: cannot read: %(error)s")
        fail(cannot % {"file": csv_file, "error": say(os_reason(exc))})
    except UnicodeDecodeError:
        fail(_("%(file)s: not UTF-8 text (save the sheet as CSV UTF-8)") % {"file": csv_file})
    if version is not None and not re.fullmatch(VERSION_PATTERN, version):
        fail(_("--version: 1-64 letters, digits or _.:- (or leave it out)"), 2)
    stamp = version or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    by = operator(check=with_db)  # once, before anything is written
    engine = open_engine() if with_db else None
    try:
        done = import_directory(
            text,
            target,
            stamp,
            source=csv_file.name,
            imported_by=by,
            engine=engine,
            allow_removal=allow_removal,
            dry_run=dry_run,
        )
    except DirectoryError as exc:
        fail(_("not imported: %(reason)s") % {"reason": _refusal(exc)})
    except SQLAlchemyError as exc:
        fail(
            _(
                "database: %(error)s; nothing was imported (run `tierflow db upgrade`, or pass "
                "--no-db to write the file only)"
            )
            % {"error": describe_db_error(exc)}
        )
    finally:
        if engine is not None:
            engine.dispose()
    found = done.directory
    if done.unchanged_from is not None:
        unchanged = _(
            "%(file)s names the same %(named)d institutions as version %(version)s, the newest "
            "recorded: nothing imported, no version added"
        )
        named = len(found.entries) - len(found.generated())
        typer.echo(unchanged % {"file": csv_file, "named": named, "version": done.unchanged_from})
        return
    if dry_run:
        would = _(
            "dry run: version %(version)s would import %(named)d institutions (%(changed)d rows "
            "of the institution table written, %(removed)d removed); nothing was written"
        )
        named = len(found.entries) - len(found.generated())
        said_dry = {"version": stamp, "named": named, "changed": done.changed}
        typer.echo(would % (said_dry | {"removed": done.removed}))
        return
    said = {
        "file": target if target is not None else _("database"),
        "version": stamp,
        "named": len(found.entries) - len(found.generated()),
        "generated": len(found.generated()),
        "skipped": done.plan.skipped,
        "by": by,
        "changed": done.changed,
        "removed": done.removed,
    }
    imported = (
        _(
            "%(file)s: version %(version)s: %(named)d institutions imported, %(generated)d "
            "generated placeholders, %(skipped)d generated rows skipped"
        )
        if done.plan.skipped
        else _(
            "%(file)s: version %(version)s: %(named)d institutions imported, %(generated)d "
            "generated placeholders"
        )
    )
    recorded = (
        _(
            "; recorded in the database by %(by)s, institution table refreshed "
            "(%(changed)d rows written, %(removed)d removed)"
        )
        if done.recorded
        else _(
            "; no database: `tierflow directory record` makes it the directory of workers that "
            "use one, `tierflow db seed` refreshes the read model"
        )
    )
    typer.echo((imported + recorded) % said)


@app.command("record")
def record(
    directory: Path | None = typer.Option(None, help="Directory JSON (default: settings)"),
) -> None:
    """Record the current directory version in the database (directory_version) if it is not
    there yet: the packaged directory, or a file written before versions were recorded."""
    from tierflow.directory import DirectoryError
    from tierflow.directory_store import record_file

    with database() as engine:
        try:
            version, new = record_file(engine, _file(directory), operator())
        except DirectoryError as exc:
            fail(_("directory not loaded: %(reason)s") % {"reason": explain(exc)})
    done = (
        _("directory version %(version)s recorded")
        if new
        else _("directory version %(version)s was recorded before")
    )
    typer.echo(done % {"version": version})


def _refusal(exc: Exception) -> str:
    """Why an import was refused: each problem of the CSV on its line (line, column, what),
    else the error's message; in the operator's language."""
    from tierflow.directory import DirectoryError
    from tierflow.directory_csv import problem_line

    if isinstance(exc, DirectoryError) and exc.problems:
        return "\n".join(problem_line(problem, catalog()) for problem in exc.problems)
    return explain(exc)
