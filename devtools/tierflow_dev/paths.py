"""Where the dev tooling finds the source checkout it works on.

The tooling reads files that also serve deployment (``deploy/kafka/pom.xml``, the Prometheus
rules, the ``deploy/temporal-server`` Go program) and rewrites checked-in contracts
(``schemas/json``). Those stay in the repository, one copy each, so the tooling runs from a
checkout with this distribution installed in editable mode (``make`` installs it so).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
