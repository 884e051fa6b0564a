"""A submit that waits for its routing (``wait=true``, the console's walk-in) has already
started the workflow when it reads the read model: a database that fails then costs the
answer its routing, not the 202 (a 503 would have the caller submit again)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import create_engine

from api.service import requests as service


async def test_a_read_model_that_fails_while_waiting_leaves_the_routing_unknown(
    tmp_path: Path,
) -> None:
    gone = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'read-model.db'}")
    ctx = SimpleNamespace(engine=gone)  # an ApiContext as read_row uses it
    assert await service.routed_row(ctx, "req-1") is None  # type: ignore[arg-type]
