"""`tierflow temporal`: Prepare a Temporal cluster's namespace for tierflow (operator).

The work is done by ``tierflow.temporal_setup`` through the server's own APIs; this command
connects with the processes' settings (address, namespace, TLS) and says what it did in the
operator's language (``tierflow.cli.texts``). Names and types stay as they are.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from tierflow.cli.texts import _, fail

if TYPE_CHECKING:
    from tierflow.settings import Settings
    from tierflow.temporal_setup import SearchAttributesRegistered

app = typer.Typer(help="Prepare a Temporal cluster for tierflow (operator).", no_args_is_help=True)


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
