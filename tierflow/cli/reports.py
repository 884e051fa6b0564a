"""`tierflow reports`: report files for institutions' leads (operators; talks to the database).

What they print for people is in the operator's language (``tierflow.cli.texts``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from tierflow.cli.database import open_engine
from tierflow.cli.texts import _, explain, ngettext

app = typer.Typer(help="Report files (operators; talks to the database).", no_args_is_help=True)


@app.command("monthly")
def monthly(
    month: str = typer.Option(..., "--month", help="The calendar month, YYYY-MM (China time)"),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="The .xlsx file to write"),
    region: str | None = typer.Option(
        None,
        "--region",
        help="Only the institutions in this division (a province, city or county code)",
    ),
) -> None:
    """Write the month's 考核 figures per institution, one sheet per tier, Chinese headers."""
    from tierflow.monthly_report import check_region, month_period, write_monthly

    if out.suffix.lower() != ".xlsx":
        typer.echo(_("--out: %(file)s must end in .xlsx") % {"file": out}, err=True)
        raise typer.Exit(2)
    try:
        month_period(month)
        if region is not None:
            check_region(region)
    except ValueError as exc:
        typer.echo(_("not written: %(reason)s") % {"reason": explain(exc)}, err=True)
        raise typer.Exit(1) from None
    engine = open_engine()
    try:
        count = write_monthly(engine, month, out, region=region)
    finally:
        engine.dispose()
    done = ngettext(
        "%(file)s: %(num)d institution, %(month)s",
        "%(file)s: %(num)d institutions, %(month)s",
        count,
    )
    typer.echo(done % {"file": out, "num": count, "month": month})
