"""Chaos-only fixtures: one dedicated stack per test module, sized by TIERFLOW_CHAOS_SCALE.

A module sets ``TARGETS`` (a :class:`tests.utils.fast_policy.Targets`) for its policy file;
the module-scoped ``chaos_stack`` starts Temporal, Kafka, SQLite, ``tierflow worker`` and
``tierflow ingress`` in a temporary home on free ports and tears them all down afterwards.

The home is a ``mkdtemp`` folder, not pytest's ``tmp_path``: pytest prunes old base temp
folders, and a concurrent pytest run would delete a live stack's files. The folder is
removed when the module passed and kept (path printed) when it failed, for its logs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import ChaosStack, chaos_settings
from tests.chaos.scale import Sizes, sizes
from tests.utils.fast_policy import Targets, write_policy
from tierflow_dev.devstack.stack import LocalStack


@pytest.fixture(scope="session")
def chaos_sizes() -> Sizes:
    return sizes()


@pytest.fixture(scope="module")
def chaos_stack(request: pytest.FixtureRequest) -> Iterator[ChaosStack]:
    module = request.module
    targets: Targets = getattr(module, "TARGETS", Targets())
    name = module.__name__.rsplit(".", 1)[-1]
    home = Path(tempfile.mkdtemp(prefix=f"tierflow-chaos-{name}-"))
    failed_before = request.session.testsfailed
    policy = write_policy(home / "chaos-policy.toml", targets)
    stack = ChaosStack(LocalStack(chaos_settings(home / "stack", policy), echo=print))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"\nchaos stack home kept for its logs: {home}")
