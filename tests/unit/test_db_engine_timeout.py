"""A PostgreSQL host that takes the connection and never answers: the engine gives up with an
error after its connection timeout instead of holding the caller (a /metrics scrape, a pool
slot) for minutes. A real listening socket that never answers stands for the host."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from tierflow.db import engine as db_engine


@pytest.fixture
def silent_host() -> Iterator[int]:
    """A port whose listener queues connections and never answers one."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_host_that_never_answers_is_given_up_on(
    silent_host: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_engine, "POSTGRES_CONNECT_TIMEOUT_SECONDS", 2)
    engine = db_engine.make_engine(f"postgresql://tierflow@127.0.0.1:{silent_host}/tierflow")
    with pytest.raises(OperationalError, match="timeout"):
        engine.connect()
    engine.dispose()
