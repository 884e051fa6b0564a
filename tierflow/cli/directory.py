"""`tierflow directory`: list, export and import the institution directory (CSV).

``update-divisions`` (regenerating the GB/T 2260 data) joins this group from the dev tooling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import typer

app = typer.Typer(
    help="The institution directory: list, CSV export and import", no_args_is_help=True
)


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(1)


def _file(path: Path | None) -> Path | None:
    from tierflow.settings import Settings

    return path or Settings().directory_file


@app.command("list")
def list_entries(
    directory: Path | None = typer.Option(None, help="Directory JSON (default: settings)"),
    generated: bool = typer.Option(False, "--generated", help="Only generated placeholders"),
    tier: str | None = typer.Option(None, help="Only this tier"),
    prefix: str = typer.Option("", help="Only division codes starting with this"),
) -> None:
    """List institutions (id, tier, division, name); --generated shows what needs real data."""
    from tierflow.directory import Directory, DirectoryError

    try:
        found = Directory.load(_file(directory))
    except DirectoryError as exc:
        _fail(str(exc))
    rows = [
        e
        for e in found.entries
        if (not generated or e.generated)
        and (tier is None or e.tier.value == tier)
        and e.division_code.startswith(prefix)
    ]
    for e in rows:
        mark = "\t生成" if e.generated else ""
        cats = ",".join(c.value for c in e.categories) or "*"
        typer.echo(f"{e.id}\t{e.tier.value}\t{e.division_code}\t{cats}\t{e.name}{mark}")
    placeholders = sum(e.generated for e in found.entries)
    typer.echo(
        f"# 版本 {found.version}: {len(rows)} 条 / 共 {len(found.entries)} 个机构，"
        f"其中 {placeholders} 个为系统生成 (generated)",
        err=True,
    )


@app.command("export")
def export(
    out: Path | None = typer.Option(None, help="CSV file to write (default: stdout)"),
    directory: Path | None = typer.Option(None, help="Directory JSON (default: settings)"),
    with_generated: bool = typer.Option(False, help="Include generated placeholders"),
) -> None:
    """Write the directory as CSV (UTF-8), one institution a row, header first."""
    from tierflow.directory import Directory, DirectoryError
    from tierflow.directory_csv import export_csv

    try:
        found = Directory.load(_file(directory))
    except DirectoryError as exc:
        _fail(str(exc))
    text = export_csv(e for e in found.entries if with_generated or not e.generated)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{out}: directory version {found.version} exported", err=True)


@app.command("import")
def import_(
    csv_file: Path = typer.Argument(..., help="CSV as written by `tierflow directory export`"),
    version: str | None = typer.Option(None, help="Version to record (default: a UTC timestamp)"),
    to: Path | None = typer.Option(
        None, help="Directory JSON to replace (default: TIERFLOW_DIRECTORY_FILE)"
    ),
) -> None:
    """Validate a CSV and make it the directory; workers pick it up on their next routing call."""
    from tierflow.directory import DirectoryError
    from tierflow.directory_csv import import_csv

    target = _file(to)
    if target is None:
        _fail(
            "no directory file to write: pass --to or set TIERFLOW_DIRECTORY_FILE "
            "(the file the worker reads; the packaged directory is read-only)"
        )
    try:
        text = csv_file.read_text("utf-8")
    except OSError as exc:
        _fail(f"{csv_file}: cannot read: {exc.strerror or exc}")
    stamp = version or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        found, skipped = import_csv(text, target, stamp, csv_file.name)
    except DirectoryError as exc:
        _fail(str(exc))
    named = len(found.entries) - len(found.generated())
    typer.echo(
        f"{target}: version {stamp}: {named} institutions imported, "
        f"{len(found.generated())} generated placeholders"
        + (f", {skipped} generated rows skipped" if skipped else "")
        + "; run `tierflow db seed` to refresh the read model"
    )
