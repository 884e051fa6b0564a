"""`tierflow db`: Database schema and reference data (``db demo`` comes with the dev tooling).

What they print is in the operator's language (``tierflow.cli.texts``); revisions and policy
versions are shown as they are.
"""

from __future__ import annotations

from pathlib import Path

import typer

from tierflow.cli.texts import _, fail, ngettext

app = typer.Typer(help="Database schema and reference data.", no_args_is_help=True)


def _url() -> str:
    from tierflow.settings import Settings

    return Settings().resolved_database_url


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    from tierflow.db.migrate import current_revision
    from tierflow.db.migrate import upgrade as run_upgrade

    url = _url()
    run_upgrade(url, revision)
    typer.echo(_("database at revision %(revision)s") % {"revision": current_revision(url)})


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision, or 'base'"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
) -> None:
    """Migrate the database down to REVISION ('base' drops every table).

    Asks first, naming the database: what the revisions dropped (columns, tables, the audit
    trail at 'base') does not come back with an upgrade."""
    from sqlalchemy.engine import make_url

    from tierflow.db.migrate import current_revision
    from tierflow.db.migrate import downgrade as run_downgrade

    url = _url()
    shown = make_url(url).render_as_string(hide_password=True)
    if not yes:
        asked = _(
            "Downgrade the database %(url)s from %(current)s to %(revision)s? What the "
            "revisions in between added is dropped for good"
        )
        values = {"url": shown, "current": current_revision(url) or "base", "revision": revision}
        if not typer.confirm(asked % values, default=False):
            fail(_("nothing changed"), 1)
    run_downgrade(url, revision)
    at = current_revision(url) or "base"
    typer.echo(_("database at revision %(revision)s") % {"revision": at})


@app.command()
def current() -> None:
    """Print the revision the database is at."""
    from tierflow.db.migrate import current_revision

    typer.echo(current_revision(_url()) or _("base (not migrated)"))


@app.command()
def seed(
    directory: Path | None = typer.Option(None, help="Directory JSON (default: settings)"),
    migrate: bool = typer.Option(True, help="Run migrations up to head first"),
) -> None:
    """Load the institution directory and the SLA policy version into the database."""
    from tierflow.db.engine import make_engine
    from tierflow.db.migrate import upgrade as run_upgrade
    from tierflow.db.seed import seed_directory, seed_policy
    from tierflow.directory import Directory
    from tierflow.settings import Settings

    settings = Settings()
    url = settings.resolved_database_url
    if migrate:
        run_upgrade(url)
    engine = make_engine(url)
    try:
        count = seed_directory(engine, Directory.load(directory or settings.directory_file))
        version, new = seed_policy(engine, settings.policy_file)
    finally:
        engine.dispose()
    done = (
        ngettext(
            "%(num)d institution written; policy %(version)s stored",
            "%(num)d institutions written; policy %(version)s stored",
            count,
        )
        if new
        else ngettext(
            "%(num)d institution written; policy %(version)s already known",
            "%(num)d institutions written; policy %(version)s already known",
            count,
        )
    )
    typer.echo(done % {"num": count, "version": version})


@app.command("fill-receivers")
def fill_receivers() -> None:
    """Fill the units that received each request first (首问负责) where rows lack them: rows a
    worker of the release before projected during a rolling upgrade. Safe to run again."""
    from tierflow.cli.database import database
    from tierflow.db.receivers import fill_receivers as fill

    with database() as engine:
        count = fill(engine)
    typer.echo(ngettext("%(num)d value filled", "%(num)d values filled", count) % {"num": count})


@app.command("fill-ratings")
def fill_ratings() -> None:
    """Fill each request's conclusion rating (好差评) where rows lack it: rows a worker of the
    release before projected during a rolling upgrade. Safe to run again."""
    from tierflow.cli.database import database
    from tierflow.db.receivers import fill_ratings as fill

    with database() as engine:
        count = fill(engine)
    typer.echo(ngettext("%(num)d row filled", "%(num)d rows filled", count) % {"num": count})


@app.command("fill-after-rollout")
def fill_after_rollout() -> None:
    """After a rolling upgrade: put right the rows workers of the release before wrote while it
    ran (every revision's fill: 首问负责's units, ratings, parts of ended requests, intake
    charges, untimed sign-fors, units owing a 整改). Safe to run again."""
    from tierflow.cli.database import database
    from tierflow.db.rollout_fills import fill_after_rollout as fill

    with database() as engine:
        done = fill(engine)
    for what, count in done:
        typer.echo(_("%(what)s: %(num)d") % {"what": _(what), "num": count})


@app.command("refresh-worklists")
def refresh_worklists(
    wait: float = typer.Option(120.0, min=0, help="Seconds to wait for Temporal"),
) -> None:
    """Write what each open request waits for (the worklists) to the read model."""
    import asyncio

    from tierflow.cli.database import database
    from tierflow.settings import get_settings
    from tierflow.temporal_client import connect_temporal
    from tierflow.worklists_refresh import refresh_worklists as refresh

    settings = get_settings()

    async def run() -> None:
        client = await connect_temporal(
            settings.temporal_address, settings.temporal_namespace, wait=wait, settings=settings
        )
        with database() as engine:
            report = await refresh(client, engine)
        said = {"checked": report.checked, "updated": len(report.updated)}
        typer.echo(_("%(checked)d open requests asked, %(updated)d worklist rows updated") % said)
        if report.missing:
            gone = _("%(num)d open rows have no workflow any more:") % {"num": len(report.missing)}
            typer.echo(gone, err=True)
            for request_id in report.missing:
                typer.echo(f"  {request_id}", err=True)
        if report.unanswered:
            count = {"num": len(report.unanswered)}
            typer.echo(
                _("%(num)d open requests did not answer (left as they are):") % count, err=True
            )
            for request_id, why in report.unanswered:
                typer.echo(f"  {request_id}: {why}", err=True)

    asyncio.run(run())
