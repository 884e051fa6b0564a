"""Command groups contributed by other installed distributions, found through entry points.

The dev tooling (``devtools/``, distribution ``tierflow-dev``) is not in the production image,
yet its groups (``dev``, ``bench``, ``db demo``, ``events schemas``) belong under ``tierflow``.
Each entry point of the ``tierflow.cli`` group names a ``register(root, groups)`` callable that
adds its commands to the root command or to one of the core groups passed in ``groups``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol

import typer

from tierflow.cli.texts import _

ENTRY_POINT_GROUP = "tierflow.cli"


class Register(Protocol):
    """What an entry point of the ``tierflow.cli`` group loads."""

    def __call__(self, root: typer.Typer, groups: Mapping[str, typer.Typer]) -> None: ...


def load(
    root: typer.Typer,
    groups: Mapping[str, typer.Typer],
    found: list[EntryPoint] | None = None,
) -> list[str]:
    """Register every installed plugin; return the names of those that loaded.

    A plugin that fails to load is reported on stderr and skipped: a broken dev install must
    not take ``tierflow worker`` down with it.
    """
    loaded = []
    plugins = found if found is not None else list(entry_points(group=ENTRY_POINT_GROUP))
    for entry in sorted(plugins, key=lambda e: e.name):
        try:
            register: Register = entry.load()
            register(root, groups)
        except Exception as exc:  # noqa: BLE001 - any plugin failure is reported, not fatal
            said = {
                "name": entry.name,
                "value": entry.value,
                "error": f"{type(exc).__name__}: {exc}",
            }
            typer.secho(
                _("tierflow: command plugin %(name)r (%(value)s) not loaded: %(error)s") % said,
                fg="yellow",
                err=True,
            )
            continue
        loaded.append(entry.name)
    return loaded
