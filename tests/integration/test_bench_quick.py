"""Every ``tierflow bench`` scenario runs with ``--quick`` against real servers and writes JSON.

The servers are started once (Temporal through its launcher, Kafka and PostgreSQL from the
session fixtures) and passed to each scenario, so each run takes seconds. The assertions are
on the shape of the results and on positive rates, not on the performance targets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow_dev.bench.assessment import OTHER_EVENTS
from tierflow_dev.bench.ingress import WARMUP
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.postgres import PostgresServer
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer


@pytest.fixture(scope="module")
def bench_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    """A dev server of our own: the session one suggests continue-as-new after 60 events."""
    server = TemporalDevServer(
        tmp_path_factory.mktemp("bench-temporal"), free_port(), headless=True
    )
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


def run_bench(args: list[str], out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["bench", *args, "--quick", "--out", str(out)])
    assert result.exit_code == 0, f"{args[0]} failed:\n{result.output}\n{result.exception!r}"
    assert f"tierflow bench {args[0]}" in result.output  # the table was printed
    doc = json.loads(out.read_text())
    for key in ("scenario", "command", "date", "machine", "backend", "params", "results"):
        assert key in doc, f"{args[0]}: missing {key}"
    assert doc["scenario"] == args[0] and doc["quick"] is True
    assert doc["machine"]["nproc"] >= 1 and doc["machine"]["ram_mb"] > 0
    return doc


@pytest.fixture
def servers(bench_temporal: TemporalDevServer, kafka_broker: KafkaBroker) -> list[str]:
    return ["--temporal-address", bench_temporal.address, "--kafka", kafka_broker.bootstrap]


def test_lifecycle_quick(servers: list[str], tmp_path: Path) -> None:
    doc = run_bench(
        ["lifecycle", *servers, "--count", "3", "--concurrency", "3"], tmp_path / "l.json"
    )
    res = doc["results"]
    assert res["project_completed_per_s"] > 0 and res["bare_completed_per_s"] > 0
    assert res["ratio"] == pytest.approx(
        res["project_completed_per_s"] / res["bare_completed_per_s"]
    )
    # the admission (policy and first routing in one call) and the record_transitions of the
    # steps (an acknowledge that waited for the routing shares the submission's batch;
    # resolve; close), all local activities, mirrored by the bare side
    assert res["local_activities_per_lifecycle"] >= 4
    assert sum(res["local_activity_phases"]) == res["local_activities_per_lifecycle"]
    assert res["history_events_per_lifecycle"] > res["local_activities_per_lifecycle"]
    # the regression guard: history events per lifecycle are deterministic for each shape
    # (by workflow tasks); more than the committed figure fails here
    assert doc["targets"]["history_budget"]["met"], (
        res["history_events_by_workflow_tasks"],
        res["history_events_per_step"],
    )
    assert sum(res["history_events_per_step"].values()) == res["history_events_per_lifecycle"]
    # CPU per lifecycle of this process (worker + client); servers given, so not measured
    assert res["project_cpu_ms_per_lifecycle"]["bench_process"] > 0
    assert "temporal_server" not in res["bare_cpu_ms_per_lifecycle"]
    assert doc["targets"]["ratio"]["target"] == ">= 0.9"
    assert doc["targets"]["rate"]["target"] == ">= 10"
    cpu = res["project_cpu_ms_per_lifecycle"]["bench_process"]
    assert res["worker_cpu_ratio"] == pytest.approx(
        cpu / res["bare_cpu_ms_per_lifecycle"]["bench_process"]
    )
    assert doc["targets"]["worker_cpu_ratio"]["target"] == "<= 1.2"
    assert doc["backend"]["temporal"].startswith("external Temporal")  # ours, not started
    # issue 24's baseline runs the project's own activities on a calibration lifecycle's
    # inputs: it admits, then writes and publishes as many audit rows as the project
    assert res["bare_activities"] == "same"
    names = res["bare_local_activities"]
    assert names[0] == "bench_admit" and set(names[1:]) == {"bench_record"}
    assert len(names) == sum(res["local_activity_phases"])
    written = res["audit_rows_per_lifecycle"]
    assert written["project"] >= 5  # submitted, assigned, acknowledged, resolved, closed
    assert written["bare"] == written["project"]
    assert doc["targets"]["same_work"]["met"]


def test_lifecycle_noop_baseline_quick(servers: list[str], tmp_path: Path) -> None:
    doc = run_bench(
        ["lifecycle", *servers, "--count", "2", "--concurrency", "2", "--bare", "noop"],
        tmp_path / "l.json",
    )
    res = doc["results"]
    assert res["bare_activities"] == "noop" and res["bare_local_activities"] is None
    assert res["audit_rows_per_lifecycle"]["bare"] == 0
    assert res["audit_rows_per_lifecycle"]["project"] >= 5
    assert "same_work" not in doc["targets"]


def test_timers_quick(servers: list[str], tmp_path: Path) -> None:
    args = ["timers", *servers, "--count", "12", "--probes", "6", "--response-seconds", "4"]
    res = run_bench(args, tmp_path / "t.json")["results"]
    assert res["open_requests"] == 12  # background requests stay open, their clocks far off
    assert res["escalated"] == res["probes_breaching_at_county"] > 0
    lag = res["escalation_event_lag_s"]
    assert lag["count"] == res["escalated"] and lag["p95"] >= lag["p50"] >= 0
    assert res["bare_timer_activity_lag_s"]["count"] == res["escalated"]


def test_scale_quick(servers: list[str], tmp_path: Path) -> None:
    args = ["scale", *servers, "--count", "8", "--probes", "2"]
    res = run_bench(args, tmp_path / "s.json")["results"]
    assert res["open_requests"] == 8 and res["opened_per_s"] > 0
    assert res["rss_open_mb"] > res["rss_idle_mb"] > 20  # a real Python worker process
    assert res["action_in_cache_s"]["count"] == 2 and res["action_evicted_s"]["p95"] > 0


def run_database_bench(
    server: PostgresServer, out: Path, scenario: str, rows: int, queries: int, **db: str
) -> dict[str, Any]:
    """Run a read-model scenario on a fresh database of the session's PostgreSQL."""
    url = server.create_database(f"bench_{scenario}_quick", **db)
    args = [scenario, "--database-url", url, "--rows", str(rows), "--queries", str(queries)]
    doc = run_bench(args, out)
    assert doc["backend"]["persistence"] == "postgresql"
    return doc


def test_queue_quick(postgres_server: PostgresServer, tmp_path: Path) -> None:
    doc = run_database_bench(postgres_server, tmp_path / "q.json", "queue", 1000, 50)
    res = doc["results"]
    assert res["rows"] == 1000 and res["orm_query_s"]["count"] == 50
    assert res["orm_query_s"]["p99"] > 0 and res["raw_sql_query_s"]["p99"] > 0
    assert any("service_request" in line for line in res["plan_largest_queue"])


def test_ingress_quick(servers: list[str], tmp_path: Path) -> None:
    args = ["ingress", *servers, "--seconds", "0.4", "--burst", "10"]
    res = run_bench(args, tmp_path / "i.json")["results"]
    for phase in ("ingress_fixed", "ingress_saturation", "bare_fixed", "bare_saturation"):
        assert res[phase]["not_started"] == 0, phase
        assert res[phase]["throughput_per_s"] > 0 and res[phase]["latency_s"]["p50"] > 0
    assert res["direct_start_fixed"]["started"] == 20  # the floor: same rate, no Kafka
    # Kafka's own hop: every fixed-load message received, each after it was sent
    hop = res["kafka_hop_fixed"]
    assert hop["received"] == hop["messages"] == 20 and hop["latency_s"]["p50"] > 0
    # every message through the ingress applied once: untimed warm-up, fixed load, burst
    assert res["ingress_commands"]["applied"] == WARMUP + 20 + 10
    assert res["ingress_commands"].get("dead_lettered", 0) == 0


def test_search_quick(postgres_server: PostgresServer, tmp_path: Path) -> None:
    doc = run_database_bench(
        postgres_server, tmp_path / "s.json", "search", 1000, 60, ctype="C.UTF-8"
    )
    res = doc["results"]
    assert res["rows"] == 1000 and res["search_s"]["count"] == 60
    assert res["search_s"]["p99"] > 0 and res["matches_max"] > 0
    assert "request_id" in res["search_s_by_kind"]
    assert all(any("service_request" in line for line in plan) for plan in res["plans"].values())


def test_assessment_quick(postgres_server: PostgresServer, tmp_path: Path) -> None:
    doc = run_database_bench(postgres_server, tmp_path / "a.json", "assessment", 500, 40)
    res = doc["results"]
    assert res["requests"] == 500 and res["league_table_s"]["count"] == 40
    assert res["transitions"] > 500 * len(OTHER_EVENTS) and res["league_table_s"]["p99"] > 0
    shapes = res["league_table_s_by_shape"]
    assert shapes and all(shape["rows"] > 0 for shape in shapes.values())  # every view sees some


def test_whatif_quick(tmp_path: Path) -> None:
    """Recorded traffic (a calendar published midway) verifies, and its week-shifted clones
    all replay: none skipped for a calendar or policy the copy lacks."""
    out = tmp_path / "w.json"
    result = CliRunner().invoke(app, ["bench", "whatif", "--quick", "--out", str(out)])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    doc = json.loads(out.read_text())
    assert doc["scenario"] == "whatif" and doc["quick"] is True  # no servers: no backend
    res = doc["results"]
    assert res["recorded"]["took_calendar"] > 0
    verify = res["verify"]
    assert (verify["agreed"], verify["disagreements"], verify["skipped"]) == (40, 0, 0)
    simulate = res["simulate"]
    assert simulate["requests"] == 400 and simulate["skipped"] == 0
    assert simulate["requests_per_minute"] > 0 and simulate["breaches_after"] > 0
