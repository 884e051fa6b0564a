"""`tierflow dev`: Start, stop and inspect the local stack."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from tierflow_dev.devstack.cluster_stack import ClusterStack
    from tierflow_dev.devstack.stack import LocalStack

app = typer.Typer(help="Start, stop and inspect the local stack.", no_args_is_help=True)
console = Console()


def _stack() -> LocalStack:
    from tierflow.settings import Settings
    from tierflow_dev.devstack.stack import LocalStack

    return LocalStack(Settings(), echo=console.print)


def _cluster() -> ClusterStack:
    from tierflow.settings import Settings
    from tierflow_dev.devstack.cluster_stack import ClusterStack

    return ClusterStack(Settings(), echo=console.print)


class Topology(StrEnum):
    small = "small"
    cluster = "cluster"


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=1)


@app.command()
def up(
    demo: int = typer.Option(0, "--demo", min=0, help="Submit N demo requests through Kafka."),
    processes: bool = typer.Option(
        True,
        "--processes/--no-processes",
        help="Also start worker, ingress, notifier and api (small topology only).",
    ),
    topology: Topology = typer.Option(
        Topology.small,
        "--topology",
        help="small: one of each on the Temporal dev server and one broker; cluster: the "
        "production topology (Temporal on PostgreSQL, three brokers, replicas).",
    ),
) -> None:
    """Start Temporal, Kafka, the database and the processes (what is not running yet)."""
    from tierflow_dev.devstack.procs import StackError

    if topology is Topology.cluster:
        _up_cluster(demo)
        return
    if _cluster().recorded():
        raise _fail(StackError("the cluster topology is up; stop it first: tierflow dev down"))
    stack = _stack()
    try:
        stack.up(demo=demo, with_processes=processes)
    except (StackError, ImportError) as exc:
        raise _fail(exc) from exc
    console.print(f"Temporal UI:     {stack.temporal.ui_url}")
    console.print(f"Temporal:        {stack.temporal.address}")
    console.print(f"Kafka bootstrap: {stack.kafka_bootstrap}")
    if processes:
        console.print(f"API:             {stack.api_url}  (docs {stack.api_url}/docs)")


def _up_cluster(demo: int) -> None:
    from tierflow_dev.devstack.procs import StackError

    cluster = _cluster()
    if not cluster.recorded() and _small_running():
        raise _fail(StackError("the small topology is running; stop it first: tierflow dev down"))
    try:
        cluster.up(demo=demo)
    except (StackError, ImportError) as exc:
        raise _fail(exc) from exc
    console.print(f"Temporal:        {cluster.temporal.address}")
    console.print(f"Kafka bootstrap: {cluster.kafka.bootstrap}")
    console.print(f"PostgreSQL:      {cluster.database_url}")
    for url in cluster.api_urls:
        console.print(f"API:             {url}  (docs {url}/docs)")
    console.print(f"Settings of the cluster for other commands: {cluster.env_file}")


def _small_running() -> bool:
    stack = _stack()
    pids = [stack.temporal.pid(), stack.kafka.pid()]
    pids += [app.process.pid() for app in stack.apps.values()]
    return any(pid is not None for pid in pids)


@app.command()
def down() -> None:
    """Stop everything (SIGTERM, then SIGKILL); data stays."""
    stopped = _cluster().down()
    stopped += _stack().down()
    if not stopped:
        console.print("nothing was running")


@app.command()
def status() -> None:
    """Show each component (each member of the cluster topology); exit 1 if any is unhealthy."""
    cluster = _cluster()
    if cluster.recorded():
        rows, title = cluster.status(), "tierflow cluster topology"
    else:
        rows, title = _stack().status(), "tierflow local stack"
    folders = {row.log.parent for row in rows if row.log}
    # the logs share a folder: named once in the title, each row names its file
    folder = folders.pop() if len(folders) == 1 else None
    if folder is not None:
        title += f" (logs in {_shown_path(folder)})"
    table = Table(title=title)
    for column in ("component", "pid", "health", "address", "log / detail"):
        table.add_column(column, overflow="fold")  # a path folds onto lines, never cut short
    for row in rows:
        health = "[green]ok[/green]" if row.healthy else "[red]down[/red]"
        log = "" if row.log is None else row.log.name if folder else _shown_path(row.log)
        table.add_row(row.name, str(row.pid or "-"), health, row.address, row.detail or log)
    console.print(table)
    if not all(row.healthy for row in rows):
        raise typer.Exit(code=1)


def _shown_path(path: Path) -> str:
    """A path as short as it can be read: from the working folder when it is below it
    (.tierflow/logs), else in full."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


@app.command()
def logs(
    name: str = typer.Argument(
        ...,
        help="temporal, kafka, worker, ingress, notifier, api, or mail (the SMTP sink's mails); "
        "of the cluster topology: postgres, temporal-server, kafka-1, worker-2, api-1 ...",
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    lines: int = typer.Option(50, "--lines", "-n", min=0, help="How many last lines to show."),
) -> None:
    """Print a component's log (the file under <home>/logs)."""
    from tierflow.settings import Settings
    from tierflow_dev.devstack.cluster_stack import CLUSTER_DIR

    home = Settings().home.resolve()
    path = home / "logs" / f"{name}.log"
    in_cluster = home / CLUSTER_DIR / "logs" / f"{name}.log"
    if in_cluster.exists() and (_cluster().recorded() or not path.exists()):
        path = in_cluster
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.log"))
        raise _fail(FileNotFoundError(f"no log {path}; logs present: {known or 'none'}"))
    _print_tail(path, lines)
    if follow:
        _follow(path)


def _print_tail(path: Path, lines: int) -> None:
    with path.open(errors="replace") as fh:
        for line in deque(fh, maxlen=lines):
            typer.echo(line, nl=False)


def _follow(path: Path) -> None:
    with path.open(errors="replace") as fh:
        fh.seek(0, 2)
        try:
            while True:
                line = fh.readline()
                if line:
                    typer.echo(line, nl=False)
                else:
                    time.sleep(0.25)
        except KeyboardInterrupt:
            return


@app.command()
def reset(
    name: str = typer.Argument(..., help="temporal, kafka, db, all, or cluster (all its data)"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a stopped component's data."""
    from tierflow_dev.devstack.procs import StackError

    if not yes:
        typer.confirm(f"Delete all {name} data of the local stack?", abort=True)
    try:
        if name == "cluster":
            removed = [path for path in [_cluster().reset()] if path is not None]
        else:
            removed = _stack().reset(name)
    except StackError as exc:
        raise _fail(exc) from exc
    for path in removed:
        console.print(f"removed {path}")
    if not removed:
        console.print(f"{name}: no data to remove")


def register(root: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add `tierflow dev` to the root command."""
    root.add_typer(app, name="dev")
