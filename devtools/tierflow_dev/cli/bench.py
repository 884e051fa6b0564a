"""`tierflow bench`: benchmarks measured as ratios against bare baselines.

Each command starts its own servers on free ports in a temporary home (unless addresses are
given), prints a table and writes JSON to ``docs/benchmarks/<name>.json`` (or ``--out``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

app = typer.Typer(
    help="Benchmarks measured as ratios against bare baselines.", no_args_is_help=True
)

BYTECODE = {"cache": True}
_Params = TypeVar("_Params", bound="DataclassInstance")


@app.callback()
def _bench(
    bytecode_cache: Annotated[
        bool,
        typer.Option(
            "--bytecode-cache/--no-bytecode-cache",
            help="Let Python write .pyc files even if PYTHONDONTWRITEBYTECODE is set: the "
            "workflow sandbox re-imports the workflow module for every new or evicted run.",
        ),
    ] = True,
) -> None:
    """Benchmarks measured as ratios against bare baselines."""
    BYTECODE["cache"] = bytecode_cache
    if bytecode_cache:
        sys.dont_write_bytecode = False
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the scale worker process too


Quick = Annotated[bool, typer.Option("--quick", help="Tiny sizes (seconds), for CI.")]
Out = Annotated[Path | None, typer.Option("--out", help="JSON path [docs/benchmarks/NAME.json].")]
TemporalAddr = Annotated[
    str | None, typer.Option("--temporal-address", help="Use this Temporal, start none.")
]
KafkaAddr = Annotated[str | None, typer.Option("--kafka", help="Use this Kafka bootstrap.")]
DbUrl = Annotated[
    str | None, typer.Option("--database-url", help="Persistence DB URL (default: SQLite).")
]
Postgres = Annotated[
    bool, typer.Option("--postgres", help="Start PostgreSQL for persistence instead of SQLite.")
]
Wal = Annotated[
    bool,
    typer.Option(
        "--sqlite-wal/--no-sqlite-wal",
        help="Dev server store with --sqlite-pragma journal_mode=wal (default) or without.",
    ),
]
Concurrency = Annotated[int | None, typer.Option("--concurrency", help="Requests in flight.")]


class TopologyName(StrEnum):
    DEV = "dev"
    CLUSTER = "cluster"


Topology = Annotated[
    TopologyName,
    typer.Option(
        "--topology",
        help="dev: Temporal dev server, one broker. cluster: the production topology's "
        "engines (Temporal on PostgreSQL with its history shards, 3 brokers at replication 3, "
        "min ISR 2, acks=all), as `tierflow dev up --topology cluster` starts them; results "
        "to NAME-cluster.json.",
    ),
]


class BareName(StrEnum):
    SAME = "same"
    NOOP = "noop"


Bare = Annotated[
    BareName,
    typer.Option(
        "--bare",
        help="The baseline's activities. same: the project's own, on the inputs of a "
        "calibration lifecycle (issue 24's baseline: what the workflow costs beyond its "
        "activities). noop: no-op activities (what workflow and activities cost together).",
    ),
]
Rows = Annotated[int | None, typer.Option(help="Synthetic requests.")]
PostgresUrl = Annotated[str | None, typer.Option(help="PostgreSQL URL (default: start one).")]


# The options every scenario that starts a stack takes, in the order `--help` lists them.
_STACK_OPTIONS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
    for name, annotation, default in (
        ("temporal_address", TemporalAddr, None),
        ("kafka", KafkaAddr, None),
        ("database_url", DbUrl, None),
        ("postgres", Postgres, False),
        ("sqlite_wal", Wal, True),
    )
]


def _options(**kw: Any) -> Any:
    from tierflow_dev.bench.common import StackOptions

    return StackOptions(
        temporal_address=kw.get("temporal_address"),
        kafka=kw.get("kafka"),
        database_url=kw.get("database_url"),
        postgres=kw.get("postgres", False),
        sqlite_wal=kw.get("sqlite_wal", True),
        need_kafka=kw.get("need_kafka", True),
        need_temporal=kw.get("need_temporal", True),
    )


def _stack_command(body: Callable[..., None]) -> Callable[..., None]:
    """Register `body` as a command that also takes the stack options, given to it as `opts`.

    The options are appended to `body`'s own in the signature Typer reads, so each is
    declared once here rather than in every scenario.
    """
    signature = inspect.signature(body, eval_str=True)
    own = [param for param in signature.parameters.values() if param.name != "opts"]

    @functools.wraps(body)
    def command(**kwargs: Any) -> None:
        stack = {param.name: kwargs.pop(param.name) for param in _STACK_OPTIONS}
        body(opts=_options(**stack), **kwargs)

    command.__signature__ = signature.replace(parameters=[*own, *_STACK_OPTIONS])  # type: ignore[attr-defined]
    app.command()(command)
    return command


def _sized(sizes: _Params, **given: float | None) -> _Params:
    """Return the scenario's sizes (its defaults, or its ``QUICK`` ones) with each size the
    command line gave instead (unset or 0: keep the default)."""
    return replace(sizes, **{name: value for name, value in given.items() if value})


def _run(
    name: str,
    opts: Any,
    quick: bool,
    out: Path | None,
    body: Callable[[Any], Coroutine[Any, Any, dict[str, Any]]],
) -> None:
    """Start the stack, run the scenario, print its table and write its JSON."""
    from tierflow_dev.bench.common import RESULTS_DIR, BenchStack, print_table, write_results

    if out is None and opts.topology != "dev":
        out = RESULTS_DIR / f"{name}-{opts.topology}.json"
    with BenchStack(opts, name) as stack:
        load = {"start": os.getloadavg()}  # the host is shared: what else ran meanwhile
        section = asyncio.run(body(stack))
        load["end"] = os.getloadavg()
        backend = stack.backend() | {"python_bytecode_cache": not sys.dont_write_bytecode}
    payload = {"quick": quick, "backend": backend, "load_average": load, **section}
    path = write_results(name, out, payload)
    rows = _flatten(section["results"])
    for key, rec in section.get("targets", {}).items():
        rows[f"target {key}"] = (
            f"{rec['value']} ({rec['target']}: {'met' if rec['met'] else 'MISSED'})"
        )
    rows["backend"] = backend["temporal"]
    print_table(f"tierflow bench {name}", rows)
    typer.echo(f"results written to {path}")


def _run_on_postgres(
    name: str,
    quick: bool,
    out: Path | None,
    database_url: str | None,
    body: Callable[[Any], Coroutine[Any, Any, dict[str, Any]]],
) -> None:
    """Run a scenario that needs PostgreSQL only (started unless ``database_url`` is given)."""
    opts = _options(database_url=database_url, need_kafka=False, need_temporal=False)
    _run(name, opts, quick, out, body)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return table rows: scalars, and p50/p95/p99 of nested samples."""
    rows: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if "p95" in value:
                rows.update({f"{name}.{k}": value[k] for k in ("p50", "p95", "p99")})
            else:
                rows.update(_flatten(value, f"{name}."))
        elif not isinstance(value, list):
            rows[name] = value
    return rows


LifecycleCount = Annotated[int | None, typer.Option(help="Lifecycles per side.")]


@_stack_command
def lifecycle(
    quick: Quick = False,
    out: Out = None,
    count: LifecycleCount = None,
    concurrency: Concurrency = None,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Worker processes per side (tierflow worker / bare worker); 0: both "
            "workers in the bench process.",
        ),
    ] = 0,
    topology: Topology = TopologyName.DEV,
    bare: Bare = BareName.SAME,
    *,
    opts: Any,
) -> None:
    """Full lifecycles per second vs a bare workflow with the same activities (target >= 0.9)."""
    from tierflow_dev.bench.lifecycle import QUICK, LifecycleParams, run_lifecycle

    sizes = replace(QUICK if quick else LifecycleParams(), workers=workers, bare=bare.value)
    params = _sized(sizes, count=count, concurrency=concurrency)
    opts = replace(opts, topology=topology.value)
    _run("lifecycle", opts, quick, out, lambda stack: run_lifecycle(stack, params))


@_stack_command
def lifecycle_workers(
    quick: Quick = False,
    out: Out = None,
    count: LifecycleCount = None,
    concurrency: Concurrency = None,
    workers: Annotated[
        str, typer.Option(help="Worker processes per side, one run each (comma-separated).")
    ] = "1,2,4",
    topology: Topology = TopologyName.DEV,
    bare: Bare = BareName.SAME,
    *,
    opts: Any,
) -> None:
    """Lifecycles per second and per core with 1, 2, 4 worker processes; where scaling stops."""
    from tierflow_dev.bench.lifecycle import QUICK, LifecycleParams
    from tierflow_dev.bench.scaling import run_scaling

    try:
        counts = [int(n) for n in workers.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise typer.BadParameter(
            f"{workers!r}: positive counts, e.g. 1,2,4", param_hint="--workers"
        )
    sizes = replace(QUICK if quick else LifecycleParams(), bare=bare.value)
    params = _sized(sizes, count=count, concurrency=concurrency)
    opts = replace(opts, topology=topology.value)
    _run("lifecycle-workers", opts, quick, out, lambda stack: run_scaling(stack, params, counts))


@_stack_command
def timers(
    quick: Quick = False,
    out: Out = None,
    count: Annotated[int | None, typer.Option(help="Open requests, probes included.")] = None,
    probes: Annotated[int | None, typer.Option(help="Requests whose response clocks fire.")] = None,
    probe_rate: Annotated[
        float | None, typer.Option(help="Probes opened (deadlines due) per s.")
    ] = None,
    response_seconds: Annotated[
        float | None, typer.Option(help="Probes' response target (s).")
    ] = None,
    concurrency: Concurrency = None,
    *,
    opts: Any,
) -> None:
    """p95 lag from SLA deadline to escalation with M open requests (target <= 1 s)."""
    from tierflow_dev.bench.timers import QUICK, TimerParams, run_timers

    params = _sized(
        QUICK if quick else TimerParams(),
        count=count,
        probes=probes,
        probe_rate=probe_rate,
        response_seconds=response_seconds,
        concurrency=concurrency,
    )
    if params.probes > params.count:
        raise typer.BadParameter(
            f"--probes ({params.probes}) must not exceed --count ({params.count})",
            param_hint="--probes",
        )
    _run("timers", opts, quick, out, lambda stack: run_timers(stack, params))


@_stack_command
def scale(
    quick: Quick = False,
    out: Out = None,
    count: Annotated[int | None, typer.Option(help="Open requests.")] = None,
    probes: Annotated[int | None, typer.Option(help="Timed actions per case.")] = None,
    concurrency: Concurrency = None,
    *,
    opts: Any,
) -> None:
    """Worker RSS with N open requests; action latency in cache vs evicted."""
    from tierflow_dev.bench.scale import QUICK, ScaleParams, run_scale

    sizes = QUICK if quick else ScaleParams()
    params = _sized(sizes, count=count, probes=probes, concurrency=concurrency)
    _run("scale", opts, quick, out, lambda stack: run_scale(stack, params))


@app.command()
def queue(
    quick: Quick = False,
    out: Out = None,
    rows: Rows = None,
    queries: Annotated[int | None, typer.Option(help="Timed queries.")] = None,
    database_url: PostgresUrl = None,
) -> None:
    """Caseworker queue query p99 over many requests in PostgreSQL (target <= 50 ms)."""
    from tierflow_dev.bench.queue import QUICK, QueueParams, run_queue

    params = _sized(QUICK if quick else QueueParams(), rows=rows, queries=queries)
    _run_on_postgres("queue", quick, out, database_url, lambda stack: run_queue(stack, params))


@app.command()
def assessment(
    quick: Quick = False,
    out: Out = None,
    rows: Rows = None,
    queries: Annotated[int | None, typer.Option(help="Timed league tables.")] = None,
    database_url: PostgresUrl = None,
) -> None:
    """League-table (考核) query p99 over 10,000 requests in PostgreSQL (target <= 200 ms)."""
    from tierflow_dev.bench.assessment import QUICK, AssessmentParams, run_assessment

    params = _sized(QUICK if quick else AssessmentParams(), rows=rows, queries=queries)
    _run_on_postgres(
        "assessment", quick, out, database_url, lambda stack: run_assessment(stack, params)
    )


@app.command()
def search(
    quick: Quick = False,
    out: Out = None,
    rows: Rows = None,
    queries: Annotated[int | None, typer.Option(help="Timed searches.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="PostgreSQL URL (default: start one, LC_CTYPE C.UTF-8).")
    ] = None,
) -> None:
    """Queue search p99 over many requests in PostgreSQL (target <= 100 ms)."""
    from tierflow_dev.bench.search import QUICK, SearchParams, run_search

    params = _sized(QUICK if quick else SearchParams(), rows=rows, queries=queries)
    _run_on_postgres("search", quick, out, database_url, lambda stack: run_search(stack, params))


@_stack_command
def ingress(
    quick: Quick = False,
    out: Out = None,
    rate: Annotated[float, typer.Option(help="Fixed offered load (msg/s).")] = 50.0,
    seconds: Annotated[float | None, typer.Option(help="Fixed-load length.")] = None,
    burst: Annotated[int | None, typer.Option(help="Saturation burst size.")] = None,
    topology: Topology = TopologyName.DEV,
    *,
    opts: Any,
) -> None:
    """Kafka command -> workflow started: p50/p95/p99 at 50/s and at saturation vs bare."""
    from tierflow_dev.bench.ingress import QUICK, IngressParams, run_ingress

    opts = replace(opts, topology=topology.value)
    sizes = replace(QUICK if quick else IngressParams(), rate=rate)  # --rate always applies
    params = _sized(sizes, seconds=seconds, burst=burst)
    _run("ingress", opts, quick, out, lambda stack: run_ingress(stack, params))


@app.command()
def whatif(
    quick: Quick = False,
    out: Out = None,
    verify_count: Annotated[
        int | None, typer.Option(help="Generated requests recorded and verified.")
    ] = None,
    count: Annotated[int | None, typer.Option(help="Requests the rate is measured over.")] = None,
    processes: Annotated[int | None, typer.Option(help="Simulating processes.")] = None,
) -> None:
    """What-if: verify on generated traffic, then requests simulated per minute (>= 100,000)."""
    import tempfile

    from tierflow_dev.bench.common import print_table, write_results
    from tierflow_dev.bench.whatif import QUICK, WhatIfParams, run_whatif_bench

    params = _sized(
        QUICK if quick else WhatIfParams(),
        verify_count=verify_count,
        count=count,
        processes=processes,
    )
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-whatif-") as home:
        section = run_whatif_bench(Path(home), params)
    path = write_results("whatif", out, {"quick": quick, **section})
    rows = _flatten(section["results"])
    for key, rec in section["targets"].items():
        rows[f"target {key}"] = (
            f"{rec['value']} ({rec['target']}: {'met' if rec['met'] else 'MISSED'})"
        )
    print_table("tierflow bench whatif", rows)
    typer.echo(f"results written to {path}")


def register(root: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add `tierflow bench` to the root command."""
    root.add_typer(app, name="bench")
