"""`tierflow temporal`: Prepare a Temporal cluster for tierflow, and check what its workers
would replay (operator).

The work is done by ``tierflow.temporal_setup`` and ``tierflow.cli.replay_check`` through the
server's own APIs; the commands connect with the processes' settings (address, namespace, TLS,
payload keys) and say what they did in the operator's language (``tierflow.cli.texts``). Names
and types stay as they are.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from tierflow.cli.texts import _, fail, ngettext

if TYPE_CHECKING:
    from tierflow.cli.replay_check import ReplayReport
    from tierflow.settings import Settings
    from tierflow.temporal_setup import SearchAttributesRegistered

app = typer.Typer(
    help="Prepare a Temporal cluster for tierflow, and check its replays (operator).",
    no_args_is_help=True,
)


@app.command()
def setup(
    namespace: str | None = typer.Option(None, help="Namespace (default: from the settings)"),
    create_namespace: bool = typer.Option(True, help="Create the namespace if it is missing"),
    retention_days: int = typer.Option(
        30, min=1, help="Days closed workflows are kept, for a namespace this creates"
    ),
    wait: float = typer.Option(120.0, min=0, help="Seconds to wait for Temporal"),
) -> None:
    """Create the namespace if missing and register tierflow's search attributes.

    Through the frontend and the operator API, as on any cluster; safe to run again.
    """
    from tierflow.settings import Settings
    from tierflow.startup import DependencyUnavailable
    from tierflow.temporal_setup import SearchAttributeClash

    settings = Settings()
    name = namespace or settings.temporal_namespace
    try:
        created, registered = asyncio.run(
            _setup(settings, name, create_namespace, timedelta(days=retention_days), wait)
        )
    except SearchAttributeClash as exc:
        lines = [
            _("%(name)s is registered as %(have)s; tierflow needs %(want)s")
            % {"name": attribute, "have": have, "want": want}
            for attribute, (have, want) in exc.clashes.items()
        ]
        head = _("search attributes of namespace %(namespace)s clash; nothing was registered:")
        fail("\n".join([head % {"namespace": name}, *lines]))
    except DependencyUnavailable as exc:
        fail(_("Temporal unreachable: %(error)s") % {"error": exc})
    if created:
        said = _("namespace %(namespace)s created (closed workflows kept %(days)d days)")
        typer.echo(said % {"namespace": name, "days": retention_days})
    elif create_namespace:
        typer.echo(_("namespace %(namespace)s exists; left as it is") % {"namespace": name})
    for attribute in registered.added:
        typer.echo(_("search attribute %(name)s registered") % {"name": attribute})
    for attribute in registered.present:
        typer.echo(_("search attribute %(name)s already registered") % {"name": attribute})


async def _setup(
    settings: Settings, namespace: str, create: bool, retention: timedelta, wait: float
) -> tuple[bool, SearchAttributesRegistered]:
    from tierflow.temporal_client import connect_temporal
    from tierflow.temporal_setup import (
        ensure_namespace,
        register_search_attributes,
        wait_search_attributes_usable,
    )

    address = settings.temporal_address
    client = await connect_temporal(address, namespace, wait=wait, settings=settings)
    created = await ensure_namespace(client, namespace, retention) if create else False
    registered = await register_search_attributes(client, namespace)
    await wait_search_attributes_usable(client, namespace, wait=wait)
    return created, registered


@app.command("replay-check")
def replay_check(
    request: list[str] = typer.Option(
        [], "--request", help="A request id to replay (repeatable); default: every running one"
    ),
    closed: bool = typer.Option(False, help="Also replay requests that have ended"),
    limit: int | None = typer.Option(
        None, min=1, help="Runs to replay at most (default: every one the query finds)"
    ),
    wait: float = typer.Option(30.0, min=0, help="Seconds to wait for Temporal"),
) -> None:
    """Replay requests' histories with this build's workflow code; list those it cannot.

    A worker of this build would fail every workflow task of such a request (a
    nondeterminism error) once it replays it. Run it with a new build before deploying it,
    and after an incident to find the requests to reset (docs/runbooks.md). Runs no activity
    and changes nothing. Exits 1 if a run cannot replay, or ``--limit`` left runs unchecked.
    """
    from tierflow.cli.replay_check import requests_query
    from tierflow.settings import Settings
    from tierflow.startup import DependencyUnavailable

    settings = Settings()
    try:
        query = requests_query(request, running_only=not closed)
    except ValueError as exc:
        fail(_("--request: %(id)r is not a request id") % {"id": str(exc)}, 2)
    try:
        report = asyncio.run(_replay_check(settings, query, limit, wait))
    except DependencyUnavailable as exc:
        fail(_("Temporal unreachable: %(error)s") % {"error": exc})
    for failure in report.failures:
        said = _("%(workflow)s (run %(run)s, %(type)s) cannot replay: %(error)s")
        if failure.on_worker:  # its replay passed: a worker failed its last task already
            said = _(
                "%(workflow)s (run %(run)s, %(type)s) is stuck: a worker failed its last task: "
                "%(error)s"
            )
        values = {
            "workflow": failure.workflow_id,
            "run": failure.run_id,
            "type": failure.workflow_type,
            "error": failure.error,
        }
        typer.echo(said % values)
    unchecked = _("--limit %(limit)d: more runs match; those beyond it were not replayed")
    if report.more:  # a pass over part of them is no pass
        typer.echo(unchecked % {"limit": limit or 0}, err=True)
    if report.failures:
        head = ngettext(
            "%(failed)d of %(count)d run cannot replay on this build",
            "%(failed)d of %(count)d runs cannot replay on this build",
            report.replayed,
        )
        fail(head % {"failed": len(report.failures), "count": report.replayed})
    done = ngettext(
        "%(count)d run replays on this build",
        "all %(count)d runs replay on this build",
        report.replayed,
    )
    if report.more:
        fail(_("%(count)d runs checked replay on this build") % {"count": report.replayed})
    typer.echo(done % {"count": report.replayed})


async def _replay_check(
    settings: Settings, query: str, limit: int | None, wait: float
) -> ReplayReport:
    from tierflow.cli.replay_check import quiet_runtime
    from tierflow.cli.replay_check import replay_check as check
    from tierflow.temporal_client import connect_temporal

    address = settings.temporal_address
    namespace = settings.temporal_namespace
    runtime = quiet_runtime()
    client = await connect_temporal(address, namespace, runtime, wait=wait, settings=settings)
    return await check(client, query, limit)
