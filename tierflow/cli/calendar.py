"""`tierflow calendar`: see which years are estimated, and publish a newer calendar."""

from __future__ import annotations

import asyncio
import datetime as dt

import typer

app = typer.Typer(help="Business calendars (China's days off and make-up working days).")


@app.command()
def show(
    first_year: int = typer.Option(dt.date.today().year, help="First year"),
    last_year: int = typer.Option(dt.date.today().year + 2, help="Last year"),
) -> None:
    """Print the calendar the installed holidays data gives, and which years are estimates."""
    from tierflow.calendar_data import build_calendar

    calendar = build_calendar(first_year, last_year)
    typer.echo(f"版本 version: {calendar.version}")
    for year in range(first_year, last_year + 1):
        off = sum(1 for d in calendar.holidays if d.year == year)
        work = sum(1 for d in calendar.workdays if d.year == year)
        mark = "估计 estimated" if year in calendar.estimated_years else "已公布 published"
        typer.echo(f"{year}: {off} 个休息日 days off, {work} 个调休工作日 make-up days, {mark}")


@app.command()
def publish(
    operator: str = typer.Option(..., "--as", help="The admin publishing it (recorded)"),
    first_year: int = typer.Option(dt.date.today().year - 1, help="First year"),
    last_year: int = typer.Option(dt.date.today().year + 3, help="Last year"),
) -> None:
    """Hand the calendar from the installed holidays data to every running request."""
    from schemas.domain import Role
    from schemas.request import Actor
    from tierflow.calendar_data import build_calendar
    from tierflow.calendar_publish import publish_calendar, running_requests
    from tierflow.settings import get_settings
    from tierflow.temporal_client import connect_temporal

    settings = get_settings()
    calendar = build_calendar(first_year, last_year)

    async def run() -> None:
        client = await connect_temporal(
            settings.temporal_address, settings.temporal_namespace, settings=settings
        )
        ids = await running_requests(client, settings.task_queue)
        actor = Actor(id=operator, role=Role.ADMIN)
        report = await publish_calendar(client, calendar, actor, ids)
        typer.echo(
            f"日历 {calendar.version}: {len(report.updated)} 个在办请求已更新 updated, "
            f"{len(report.refused)} 个拒绝 refused"
        )
        for wf_id, why in sorted(report.refused.items()):
            typer.echo(f"  {wf_id}: {why}", err=True)

    asyncio.run(run())
