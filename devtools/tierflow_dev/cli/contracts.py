"""`tierflow events schemas`: regenerate or check the Kafka contracts from the models."""

from __future__ import annotations

from collections.abc import Mapping

import typer


def register(root: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``schemas`` to the core ``events`` group."""
    groups["events"].command()(schemas)


def schemas(
    check: bool = typer.Option(False, "--check", help="Exit 1 if the checked-in files are stale"),
) -> None:
    """Write the JSON Schemas (schemas/json/) and AsyncAPI doc (schemas/asyncapi.json)."""
    from tierflow_dev import contracts

    if check:
        stale = contracts.stale()
        for path in stale:
            typer.echo(f"stale: {path}")
        if stale:
            typer.secho("run `tierflow events schemas` and commit the result", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo("schemas are current")
        return
    changed = contracts.write()
    typer.echo(f"wrote {len(changed)} changed file(s)" if changed else "schemas are current")
    for path in changed:
        typer.echo(f"  {path}")
