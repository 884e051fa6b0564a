"""Caseworker commands that talk to the HTTP API (login, queue, show, actions, submit)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the caseworker commands to the root ``tierflow`` app."""
