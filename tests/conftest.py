"""Session-wide fixtures: one real Temporal, Kafka and database for the whole run."""

import os

import pytest

pytest_plugins = [
    "tests.fixtures.temporal",
    "tests.fixtures.kafka",
    "tests.fixtures.database",
    "tests.fixtures.stack",
    "tests.fixtures.console",
]


def pytest_configure(config: pytest.Config) -> None:
    """Run each pytest-xdist worker with the environment of a plain run.

    Workers start with ``COLUMNS=80`` and ``LINES=24``; the CLI's console would keep that
    width from its import on, and tables would wrap where a plain run's do not. Tests that
    need a width set ``COLUMNS`` for the command they run.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
