"""`tierflow db demo`: reproducible demo requests, for the local stack and load tests."""

from __future__ import annotations

from collections.abc import Mapping

import typer


def register(root: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``demo`` to the core ``db`` group."""
    groups["db"].command()(demo)


def demo(
    n: int = typer.Argument(10, min=0, help="How many requests"),
    seed: int = typer.Option(0, help="Random seed (same seed, same requests)"),
) -> None:
    """Print N demo RequestInputs as JSON lines (pipe them into a submit command)."""
    from tierflow_dev.demo import demo_requests

    for request in demo_requests(n, seed):
        typer.echo(request.model_dump_json(exclude_none=True))
