"""`tierflow db`: Database schema and demo data."""

from __future__ import annotations

import typer

app = typer.Typer(help="Database schema and demo data.", no_args_is_help=True)
