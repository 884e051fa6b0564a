"""The daily erasure's CronJob runs `tierflow privacy erase` as the manifests' other pods run
(config map, database URL from its Secret, non-root, read-only), once at a time, on China's
clock; its command line, run as written, erases what ended before the retention and records
the job as the one that did."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.utils.ended_requests import closed, contacts, erasures, persist, running
from tests.utils.language import language_env
from tierflow.cli import app as cli_app
from tierflow.settings import Settings

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "privacy-erase-cronjob.yaml"
LONG_AGO = datetime(2020, 3, 2, 2, 0, tzinfo=UTC)


def cronjob() -> dict[str, Any]:
    [doc] = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return dict(doc)


def container() -> dict[str, Any]:
    [found] = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return dict(found)


def test_the_cronjob_runs_once_a_day_at_a_time_like_the_other_pods() -> None:
    job = cronjob()
    assert (job["kind"], job["metadata"]["name"]) == ("CronJob", "tierflow-privacy-erase")
    spec = job["spec"]
    assert spec["timeZone"] == "Asia/Shanghai" and spec["concurrencyPolicy"] == "Forbid"
    assert len(spec["schedule"].split()) == 5 and spec["schedule"].split()[2:] == ["*"] * 3
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["restartPolicy"] == "OnFailure"
    found = container()
    assert found["args"][:2] == ["privacy", "erase"] and "--yes" in found["args"]
    assert [e["configMapRef"]["name"] for e in found["envFrom"]] == ["tierflow-config"]
    env = {e["name"]: e for e in found["env"]}
    ref = env["TIERFLOW_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "tierflow-database", "key": "url"}  # not optional: fail closed
    fields = set(Settings.model_fields)
    assert all(n.removeprefix("TIERFLOW_").lower() in fields for n in env if "TIERFLOW_" in n)
    assert found["securityContext"]["readOnlyRootFilesystem"]
    assert {"cpu", "memory"} <= set(found["resources"]["limits"])
    assert {"cpu", "memory"} <= set(found["resources"]["requests"])


def test_its_command_line_erases_what_ended_before_the_retention(
    sqlite_url: str, sqlite_engine: Engine
) -> None:
    persist(sqlite_engine, closed("k-long-ago", LONG_AGO), running("k-open", LONG_AGO))
    persist(sqlite_engine, closed("k-recent", datetime.now(UTC)))
    found = container()
    env = {e["name"]: e["value"] for e in found["env"] if "value" in e}
    env |= {"TIERFLOW_DATABASE_URL": sqlite_url, "USER": None} | language_env(None)
    result = CliRunner().invoke(cli_app, found["args"], env=env)
    assert result.exit_code == 0, result.output
    assert "已清除 1 个在" in result.output
    assert contacts(sqlite_engine, "k-long-ago") == (None, None, None)
    assert contacts(sqlite_engine, "k-open")[0] == contacts(sqlite_engine, "k-recent")[0] == "王芳"
    assert erasures(sqlite_engine)["k-long-ago"].erased_by == "cli:privacy-cronjob"
