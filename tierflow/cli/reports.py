"""`tierflow reports`: report files for institutions' leads (operators; talks to the database)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Report files / 报表 (operators; talks to the database).", no_args_is_help=True
)


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
    from tierflow.db.engine import make_engine
    from tierflow.monthly_report import check_region, month_period, write_monthly
    from tierflow.settings import Settings

    if out.suffix.lower() != ".xlsx":
        typer.echo(f"out: {out} must end in .xlsx", err=True)
        raise typer.Exit(1)
    try:
        month_period(month)
        if region is not None:
            check_region(region)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    engine = make_engine(Settings().resolved_database_url)
    try:
        count = write_monthly(engine, month, out, region=region)
    finally:
        engine.dispose()
    typer.echo(f"{out}: {count} institution(s), {month}")
