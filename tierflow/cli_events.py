"""`tierflow events`: Watch lifecycle events and publish commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Watch lifecycle events and publish commands.", no_args_is_help=True)
