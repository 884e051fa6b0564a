"""`tierflow bench`: benchmarks measured as ratios against bare baselines."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Benchmarks measured as ratios against bare baselines.", no_args_is_help=True
)
