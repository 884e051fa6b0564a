"""`tierflow dev`: Start, stop and inspect the local stack."""

from __future__ import annotations

import typer

app = typer.Typer(help="Start, stop and inspect the local stack.", no_args_is_help=True)
