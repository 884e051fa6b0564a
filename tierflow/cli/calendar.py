"""`tierflow calendar`: see which years are estimated, and publish a newer calendar.

What they print is in the operator's language (``tierflow.cli.texts``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import typer

from tierflow.cli.database import admin_named, open_engine, operator
from tierflow.cli.texts import _, fail, say

app = typer.Typer(
    help="Business calendars (China's days off and make-up working days).", no_args_is_help=True
)


def _check_years(first_year: int, last_year: int) -> None:
    if not 2000 <= first_year <= last_year <= 2099:
        fail(
            _("--first-year, --last-year: years from 2000 to 2099, the first not after the last"),
            2,
        )


@app.command()
def show(
    first_year: int = typer.Option(dt.date.today().year, help="First year"),
    last_year: int = typer.Option(dt.date.today().year + 2, help="Last year"),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the calendar to this file as JSON (what-if --calendar)"
    ),
) -> None:
    """Print the calendar the installed holidays data gives, and which years are estimates."""
    from tierflow.calendar_data import build_calendar

    _check_years(first_year, last_year)
    calendar = build_calendar(first_year, last_year)
    if json_out is not None:  # a candidate for `tierflow whatif --calendar`, to edit or keep
        json_out.write_text(calendar.model_dump_json(indent=2) + "\n", encoding="utf-8")
    typer.echo(_("version: %(version)s") % {"version": calendar.version})
    for year in range(first_year, last_year + 1):
        off = sum(1 for d in calendar.holidays if d.year == year)
        work = sum(1 for d in calendar.workdays if d.year == year)
        line = (
            _("%(year)d: %(off)d days off, %(work)d make-up working days, estimated")
            if year in calendar.estimated_years
            else _("%(year)d: %(off)d days off, %(work)d make-up working days, published")
        )
        typer.echo(line % {"year": year, "off": off, "work": work})


@app.command()
def publish(
    admin: str | None = typer.Option(
        None,
        "--as",
        help="An admin user to record as publishing it (an enabled admin in the user table; "
        "default: cli:<the system user>, as other admin commands)",
    ),
    first_year: int = typer.Option(dt.date.today().year - 1, help="First year"),
    last_year: int = typer.Option(dt.date.today().year + 3, help="Last year"),
    wait: float = typer.Option(120.0, min=0, help="Seconds to wait for Temporal"),
) -> None:
    """Hand the calendar from the installed holidays data to every running request."""
    from schemas.domain import Role
    from schemas.request import Actor
    from tierflow.calendar_data import build_calendar
    from tierflow.calendar_publish import publish_calendar, running_requests
    from tierflow.calendar_store import record_calendar
    from tierflow.settings import get_settings
    from tierflow.temporal_client import connect_temporal

    _check_years(first_year, last_year)
    settings = get_settings()
    calendar = build_calendar(first_year, last_year)
    publisher = admin_named(admin, "--as") if admin else operator()
    engine = open_engine()  # recorded first: a what-if replays the publication from it
    try:
        record_calendar(engine, calendar, publisher)
    finally:
        engine.dispose()

    async def run() -> None:
        client = await connect_temporal(
            settings.temporal_address, settings.temporal_namespace, wait=wait, settings=settings
        )
        ids = await running_requests(client, settings.task_queue)
        actor = Actor(id=publisher, role=Role.ADMIN)
        report = await publish_calendar(client, calendar, actor, ids)
        said = {
            "version": calendar.version,
            "updated": len(report.updated),
            "refused": len(report.refused),
            "kept": len(report.kept),
        }
        done = _(
            "calendar %(version)s: %(updated)d open requests updated, %(refused)d refused, "
            "%(kept)d keep their policy's own calendar"
        )
        typer.echo(done % said)
        for wf_id, why in sorted(report.refused.items()):
            typer.echo(f"  {wf_id}: {say(why)}", err=True)
        if report.pending:
            waiting = _(
                "%(pending)d requests gave no answer in time (their records wait for the "
                "database or Kafka); publish again later: each takes a version once"
            )
            typer.echo(waiting % {"pending": len(report.pending)}, err=True)
            for wf_id in sorted(report.pending):
                typer.echo(f"  {wf_id}", err=True)
        if report.pending or report.refused:  # not done as asked: say so by the exit code
            raise typer.Exit(1)

    asyncio.run(run())
