"""/healthz says whether a process is ready, /livez whether it should be restarted: a process
that waits (``starting``: for Temporal, Kafka or a migration) is alive, a ``degraded`` one (a
stalled consumer) or a failing check is not. Probes of a real server on a free port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from tierflow.health import HealthServer, serve_metrics_and_health


@dataclass
class Status:
    status: str


class Box:
    """The check's current answer, set by each test."""

    answer: object = True


@pytest.fixture
def server() -> Iterator[tuple[HealthServer, Box]]:
    box = Box()

    def check() -> object:
        if isinstance(box.answer, Exception):
            raise box.answer
        return box.answer

    health = serve_metrics_and_health(0, CollectorRegistry(), check)
    try:
        yield health, box
    finally:
        health.close()


def probe(health: HealthServer, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{health.url}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read())


@pytest.mark.parametrize(
    ("answer", "ready", "alive", "status"),
    [
        (True, 200, 200, "ok"),
        (Status("ok"), 200, 200, "ok"),
        (False, 503, 200, "starting"),  # a worker waiting for the schema: not restarted
        (Status("starting"), 503, 200, "starting"),
        (Status("degraded"), 503, 503, "degraded"),  # a stalled consumer: restarted
        (RuntimeError("broken check"), 503, 503, "error"),
    ],
)
def test_ready_and_alive(
    server: tuple[HealthServer, Box], answer: object, ready: int, alive: int, status: str
) -> None:
    health, box = server
    box.answer = answer
    assert probe(health, "/healthz") == (ready, {"status": status})
    assert probe(health, "/livez") == (alive, {"status": status})


def test_other_paths_are_not_found(server: tuple[HealthServer, Box]) -> None:
    health, _ = server
    assert probe(health, "/ready")[0] == 404
