"""What the long-running processes import at start: not what only migrations need.

Alembic pulls in Mako and Pygments (about 150 ms of CPU at import); the worker, ingress,
notifier and API processes, and every ``tierflow`` command, would pay it at each start.
"""

from __future__ import annotations

import subprocess
import sys

PROCESSES = [
    "workers.worker",
    "workers.ingress.process",
    "workers.notifier.process",
    "api.app",
    "tierflow.cli",
]
MIGRATIONS_ONLY = ["alembic", "mako", "tierflow.db.migrate"]


def test_processes_start_without_the_migration_tooling() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {PROCESSES!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in {MIGRATIONS_ONLY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout
