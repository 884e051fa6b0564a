"""A private Prometheus server for development and tests, from Debian's ``prometheus`` package.

``apt-get install prometheus`` installs ``/usr/bin/prometheus`` and ``promtool`` (and may start
a system service on port 9090: stop it, ours runs on the port it is given). The server keeps
its TSDB under ``home/prometheus`` and loads the project's rule files, so tests exercise the
same alerts operators get.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierflow_dev.devstack.procs import ManagedProcess, StackError, ensure_port_free, wait_until
from tierflow_dev.paths import DEPLOY_DIR

RULES_FILE = DEPLOY_DIR / "prometheus" / "rules" / "tierflow.rules.yml"
INSTALL_HINT = "install Debian's package: apt-get install -y prometheus"


def find_prometheus(name: str = "prometheus") -> Path:
    """Return the ``prometheus`` (or ``promtool``) binary, or raise StackError saying how."""
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found on PATH: {INSTALL_HINT}")
    return Path(found)


def render_config(
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path] = (RULES_FILE,),
    scrape_interval: str = "15s",
    evaluation_interval: str = "15s",
) -> str:
    """Return a prometheus.yml scraping ``targets`` (job name -> host:port list) with rules.

    Written as JSON, which is valid YAML, so the launcher needs no YAML library.
    """
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(hosts)}]}
            for job, hosts in targets.items()
        ],
    }
    return json.dumps(config, indent=2) + "\n"


@dataclass
class PrometheusServer:
    """One Prometheus under ``home`` on ``127.0.0.1:port`` reading ``config_path``."""

    home: Path
    port: int
    config_path: Path
    retention: str = "1d"
    binary: Path = field(default_factory=find_prometheus)

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.config_path = Path(self.config_path).resolve()
        self.data_dir = self.home / "prometheus"
        argv = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",  # POST /-/reload picks up edited rules
        ]
        self.process = ManagedProcess(name="prometheus", argv=argv, home=self.home)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self, targets: Mapping[str, Sequence[str]], **kwargs: Any) -> Path:
        """Render a scrape config for ``targets`` into ``config_path`` and return it."""
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(targets, **kwargs))
        return self.config_path

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (unless running) and wait until /-/ready answers 200."""
        if not self.config_path.exists():
            raise StackError(f"Prometheus config {self.config_path} does not exist")
        if not self.process.is_running():
            ensure_port_free(self.port, "Prometheus")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.process.start()
        wait_until(
            self.healthy,
            timeout,
            f"Prometheus on {self.url}",
            log=self.process.log_path,
            alive=self.process.is_running,
        )

    def stop(self) -> bool:
        """Stop the server; return True if it was running."""
        return self.process.stop(timeout=10)

    def healthy(self) -> bool:
        """Return True when GET /-/ready answers 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; raise StackError on an error status."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local URL
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise StackError(f"Prometheus {url}: HTTP {exc.code}: {exc.read()[:300]!r}") from None
        if body.get("status") != "success":
            raise StackError(f"Prometheus {url}: {body.get('error', body)}")
        return body["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """Return the active (pending or firing) alerts."""
        return list(self.api("alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        """Return every loaded rule with its health and last error."""
        groups = self.api("rules")["groups"]
        return [rule for group in groups for rule in group["rules"]]
