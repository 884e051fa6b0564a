"""Deployment artefacts stay valid and true to the code: rules, dashboards, compose, k8s.

promtool (Debian's ``prometheus`` package) checks and unit-tests the rules; the YAML and JSON
files are parsed and cross-checked against the metric names the processes really export, the
Settings fields, the Kafka topics and the Temporal search attributes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.service import TLSConfig

from tierflow import constants
from tierflow.codec import AesGcmCodec, data_converter, generate_key
from tierflow.settings import Settings
from tierflow.startup import STARTUP_WAIT_SECONDS
from tierflow.system_clients import parse_system_clients
from tierflow.tls import SASL_MECHANISMS, kafka_security_kwargs, temporal_tls
from tierflow_dev.devstack.kafka import kafka_version
from tierflow_dev.devstack.prometheus import render_config
from tierflow_dev.devstack.topology import probe_path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
K8S_RULES = DEPLOY / "k8s" / "prometheus" / "tierflow-kubernetes.rules.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
RUNBOOKS = ROOT / "docs" / "runbooks.md"
README = ROOT / "README.md"

# Temporal SDK (core) metric names, read from a worker's PrometheusConfig endpoint (SDK 1.35).
TEMPORAL_SDK_METRICS = {
    "temporal_long_request",
    "temporal_long_request_failure",  # once a poll fails (test_temporal_outage_metrics)
    "temporal_long_request_latency_bucket",
    "temporal_num_pollers",
    "temporal_request",
    "temporal_request_latency_bucket",
    "temporal_sticky_cache_size",
    "temporal_worker_start",
    "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used",
    "temporal_workflow_completed",
    "temporal_workflow_endtoend_latency_bucket",
    "temporal_workflow_task_execution_failed",  # once a task fails (test_api_temporal_errors)
    "temporal_workflow_task_execution_latency_bucket",
    "temporal_workflow_task_queue_poll_succeed",
    "temporal_workflow_task_schedule_to_start_latency_bucket",
}
# Settings the manifests already set, requested from the settings owner (bind /metrics and
# /healthz on all interfaces inside containers); remove once Settings has the field.
SEVERITIES = {"critical", "warning", "info"}


# ---------------------------------------------------------------------------- promtool
def promtool(*args: str, cwd: Path = ROOT) -> str:
    """Run promtool; fail (never skip) with its output, or with how to install it."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool not found on PATH: install Debian's Prometheus package with "
            "`apt-get install -y prometheus` (then `service prometheus stop` if it started)"
        )
    done = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"promtool {' '.join(args)} failed ({done.returncode}):\n{output}")
    return output


def test_rule_files_pass_promtool_check() -> None:
    assert RULES, "no rule files under deploy/prometheus/rules"
    output = promtool("check", "rules", *map(str, RULES))
    assert "SUCCESS" in output


def test_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no promtool rule tests under deploy/prometheus/tests"
    promtool("test", "rules", *map(str, RULE_TESTS))


def test_the_kubernetes_rules_pass_promtool_and_have_runbook_sections() -> None:
    """The restart alert for deploy/k8s (kube-state-metrics), apart from the rules every
    deployment loads."""
    output = promtool("check", "rules", str(K8S_RULES))
    assert "SUCCESS: 1 rules found" in output
    promtool("test", "rules", str(K8S_RULES.with_suffix(".test.yml").name), cwd=K8S_RULES.parent)
    anchors = runbook_anchors()
    for group in yaml.safe_load(K8S_RULES.read_text())["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            assert url.split("#")[1] in anchors, url


def test_local_scrape_config_is_valid_and_loads_the_rules() -> None:
    output = promtool("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert f"{len(RULES)} rule files found" in output


def test_compose_scrape_config_is_valid_where_compose_mounts_the_rules(tmp_path: Path) -> None:
    # compose mounts the config and deploy/prometheus/rules side by side in /etc/prometheus
    shutil.copy(DEPLOY / "compose" / "prometheus.yml", tmp_path / "prometheus.yml")
    (tmp_path / "rules").symlink_to(DEPLOY / "prometheus" / "rules")
    output = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert f"{len(RULES)} rule files found" in output


def test_launcher_renders_a_valid_config(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_config(
            {"tierflow-worker": ["127.0.0.1:9464"]},
            scrape_interval="1s",
            evaluation_interval="1s",
        )
    )
    output = promtool("check", "config", str(config))
    assert "1 rule files found" in output


# ---------------------------------------------------------------------------- rules
def load_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += group["rules"]
    return rules


def runbook_anchors() -> set[str]:
    """Return GitHub-style anchors of the runbook headings."""
    anchors = set()
    for line in RUNBOOKS.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_every_alert_has_severity_annotations_and_a_runbook_section() -> None:
    alerts = [r for r in load_rules() if "alert" in r]
    assert len(alerts) >= 7
    anchors = runbook_anchors()
    problems = []
    for rule in alerts:
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: labels.severity must be one of {sorted(SEVERITIES)}")
        notes = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not notes.get(key):
                problems.append(f"{name}: annotations.{key} is missing")
        url = notes.get("runbook_url", "")
        page, _, anchor = url.partition("#")
        if page != "docs/runbooks.md" or anchor not in anchors:
            problems.append(f"{name}: runbook_url {url!r} has no section in docs/runbooks.md")
        if anchor != name.lower():
            problems.append(f"{name}: runbook anchor should be {name.lower()!r}")
    assert problems == []


def test_brief_alerts_exist() -> None:
    names = {r["alert"] for r in load_rules() if "alert" in r}
    assert {
        "TierflowSlaBreaches",
        "TierflowSlaBreachRateHigh",
        "TierflowSupervisorAlert",
        "TierflowNationalRequestsStuck",
        "TierflowDeadLettersGrowing",
        "TierflowConsumerLagHigh",
        "TierflowNoWorkerPolling",
        "TierflowWorkerDown",
        "TierflowApiErrorRate",
    } <= names


# ---------------------------------------------------------------------------- metric names
@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The metric families the processes export (from their real metric classes), by type."""
    from api.deps import ApiMetrics
    from tierflow.db.engine import make_engine
    from tierflow.db.migrate import upgrade
    from tierflow.metrics import (
        AssessmentCollector,
        ReadModelCollector,
        WorkerMetrics,
        process_registry,
    )
    from workers.ingress.metrics import IngressMetrics
    from workers.notifier.metrics import NotifierMetrics

    url = f"sqlite:///{tmp_path_factory.mktemp('names') / 'names.db'}"
    upgrade(url)
    registry = process_registry()  # as every process's
    WorkerMetrics(registry)
    IngressMetrics(registry)
    NotifierMetrics(registry)
    ApiMetrics(registry)
    engine = make_engine(url)
    registry.register(ReadModelCollector(engine))
    registry.register(AssessmentCollector(engine))
    found = {family.name: family.type for family in registry.collect()}
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def known_metrics(families: dict[str, str]) -> set[str]:
    """Names the processes export, plus recordings and SDK."""
    names = {"up"} | TEMPORAL_SDK_METRICS
    for name in families:
        names.add(name)
        names |= {f"{name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count")}
    assert "tierflow_open_requests" in names, "the read-model gauges did not collect"
    assert "tierflow_assessment_rate" in names, "the assessment gauges did not collect"
    names |= {r["record"] for r in load_rules() if "record" in r}
    return names


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression refers to (ours, the SDK's and ``up``)."""
    bare = _LABEL_LISTS.sub(" ", _RANGES.sub(" ", _BRACES.sub(" ", _STRINGS.sub(" ", expr))))
    found = set()
    for token in _IDENT.findall(bare):
        if token.startswith(("tierflow_", "temporal_")) or ":" in token or token == "up":
            found.add(token)
    return found


def test_metric_names_parser() -> None:
    expr = 'sum by (tier) (increase(tierflow_x_total{a="b:c"}[5m])) / t:y:z or up{job="j"}'
    assert metric_names(expr) == {"tierflow_x_total", "t:y:z", "up"}


def test_rules_refer_to_exported_metrics(known_metrics: set[str]) -> None:
    unknown = {
        (r.get("alert") or r.get("record"), name)
        for r in load_rules()
        for name in metric_names(r["expr"])
        if name not in known_metrics
    }
    assert unknown == set()


# ---------------------------------------------------------------------------- docs
def runbook_text() -> str:
    """The runbooks with each line break turned into a space (quotes span lines)."""
    return " ".join(RUNBOOKS.read_text().split())


def test_runbooks_name_exported_metrics(known_metrics: set[str]) -> None:
    """Every metric a runbook names is one Prometheus has (an SDK histogram only as _bucket)."""
    named = set(re.findall(r"\b(?:tierflow|temporal)_[a-z_]+\b", RUNBOOKS.read_text()))
    headers = {n for n in named if n.startswith("tierflow_dlq_")}  # dead letters' headers
    assert named - headers - known_metrics == set()


def test_readme_metrics_table_names_every_exported_metric(families: dict[str, str]) -> None:
    section = README.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:tierflow|process)_[a-z_]+)`", section))
    exported = {f"{n}_total" if kind == "counter" else n for n, kind in families.items()}
    assert exported - documented == set(), "missing from the README's metrics table"
    assert documented - exported == set(), "in the README's metrics table, not exported"


def test_runbook_sql_runs_on_the_read_model(tmp_path: Path) -> None:
    """Each statement the runbooks quote runs on a migrated database (rolled back)."""
    from sqlalchemy import text

    from tierflow.db.engine import make_engine
    from tierflow.db.migrate import upgrade

    statements = re.findall(r"`((?:SELECT|UPDATE) [^`]*)`", runbook_text())
    assert len(statements) >= 6
    url = f"sqlite:///{tmp_path / 'runbook.db'}"
    upgrade(url)
    engine = make_engine(url)
    problems = []
    for sql in statements:
        with engine.connect() as conn, conn.begin() as transaction:
            try:
                conn.execute(text(sql))
            except Exception as exc:  # noqa: BLE001 - reported with the statement
                problems.append(f"{sql}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            transaction.rollback()
    engine.dispose()
    assert problems == []


def test_runbook_kubectl_selects_pods_of_the_manifests(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    """Logs and pods by label, so that every replica is read, with labels the pods carry."""
    text = runbook_text()
    names = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for d in deployments(k8s_docs).values()
    }
    selected = set(re.findall(r"-l app\.kubernetes\.io/name=([\w-]+)", text))
    assert selected and selected <= names
    assert "logs deploy/" not in text, "reads one replica's log: select by label"


# ---------------------------------------------------------------------------- grafana
def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def datasource_uid() -> str:
    path = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    sources = yaml.safe_load(path.read_text())["datasources"]
    assert len(sources) == 1 and sources[0]["type"] == "prometheus"
    return str(sources[0]["uid"])


def test_dashboards_query_known_metrics_through_the_provisioned_datasource(
    known_metrics: set[str],
) -> None:
    assert DASHBOARDS, "no dashboards under deploy/grafana/dashboards"
    uid = datasource_uid()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard.get("uid") and dashboard.get("title"), f"{path.name}: uid and title"
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids must be unique"
        problems = []
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            where = f"{path.name} panel {panel.get('title')!r}"
            if panel.get("datasource", {}).get("uid") != uid:
                problems.append(f"{where}: datasource uid must be {uid!r}")
            if not panel.get("targets"):
                problems.append(f"{where}: has no targets")
            for target in panel.get("targets", []):
                names = metric_names(target.get("expr", ""))
                if not names:
                    problems.append(f"{where}: target {target.get('refId')} has no metric")
                problems += [f"{where}: unknown metric {n}" for n in names - known_metrics]
        assert problems == []


def test_dashboard_covers_the_sla_views() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "tierflow-sla.json").read_text())
    exprs = " ".join(t["expr"] for p in panels(dashboard) for t in p.get("targets", []))
    for needed in (
        "tier:tierflow_sla_attainment:ratio1h",  # SLA attainment per tier
        "tier:tierflow_open_requests:sum",  # queue depth per tier
        "tierflow:escalations:rate5m",  # escalation flow
        "route:tierflow_api_request_seconds:p95_5m",  # latency
        "tierflow:api_5xx:ratio5m",  # errors
    ):
        assert needed in exprs


def test_assessment_dashboard_shows_the_rates_and_counts() -> None:
    path = DEPLOY / "grafana" / "dashboards" / "tierflow-assessment.json"
    dashboard = json.loads(path.read_text())
    exprs = " ".join(t["expr"] for p in panels(dashboard) for t in p.get("targets", []))
    for rate in ("satisfaction_rate", "response_rate", "resolution_rate"):  # the published three
        assert f'institution:tierflow_assessment_rate:max{{rate="{rate}"' in exprs
    assert "institution:tierflow_assessment_count:max" in exprs and 'figure="reprimands"' in exprs
    # the replicas' copies kept once: the raw gauges would count each worker again
    assert not re.search(r"(?<!:)tierflow_assessment_(rate|count)\{", exprs)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert "institution:tierflow_assessment_rate:max" in variables["tier"]["definition"]
    assert all(
        'tier=~"$tier"' in t["expr"] for p in panels(dashboard) for t in p.get("targets", [])
    )


# ---------------------------------------------------------------------------- compose
def settings_field(env_name: str) -> str:
    assert env_name.startswith("TIERFLOW_"), env_name
    return env_name.removeprefix("TIERFLOW_").lower()


def check_settings_env(env: dict[str, Any], where: str) -> list[str]:
    fields = set(Settings.model_fields)
    return [
        f"{where}: {key} is not a Settings field"
        for key in env
        if key.startswith("TIERFLOW_") and settings_field(key) not in fields
    ]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_runs_the_whole_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "temporal", "kafka-1", "prometheus", "grafana"} <= set(services)
    for name in ("worker", "ingress", "notifier", "api"):
        service = services[name]
        assert service["command"] == [name]
        build = service["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).is_file()
        for dep, cond in service["depends_on"].items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert cond["condition"] in {"service_started", "service_healthy"} or dep in {
                "migrate",
                "temporal-setup",
                "kafka-setup",
            }
    # the server of deploy/temporal-server on compose's PostgreSQL (test_deploy_topology.py
    # checks the config file and the shards)
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgres"
    assert services["temporal-schema"]["environment"]["SQL_HOST"] == "postgres"


def test_compose_files_and_settings_exist(compose: dict[str, Any]) -> None:
    problems = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")) and not (COMPOSE.parent / source).exists():
                problems.append(f"{name}: volume source {source} does not exist")
        problems += check_settings_env(service.get("environment", {}), name)
    assert problems == []


def test_compose_kafka_matches_the_project(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka-1", "kafka-2", "kafka-3", "kafka-setup"):
        assert services[name]["image"] == f"apache/kafka:{kafka_version()}", name
    script = " ".join(services["kafka-setup"]["command"])
    topics = {name: int(parts) for name, parts in re.findall(r"(tierflow\.[\w.]+):(\d+)", script)}
    assert topics == constants.TOPICS
    altered = re.findall(r"--entity-name ([\w.]+)\s+--add-config ([\w.]+)=(\w+)", script)
    configs = [
        (topic, key, value)
        for topic, kv in constants.TOPIC_CONFIGS.items()
        for key, value in kv.items()
    ]
    assert sorted(altered) == sorted(configs)


def test_compose_registers_the_search_attributes(compose: dict[str, Any]) -> None:
    # `tierflow temporal setup` registers tierflow/constants.py SEARCH_ATTRIBUTES itself
    setup = compose["services"]["temporal-setup"]
    assert setup["command"] == ["temporal", "setup"]
    assert setup["image"] == compose["services"]["worker"]["image"]


def test_compose_prometheus_scrapes_each_process_on_its_settings_port(
    compose: dict[str, Any],
) -> None:
    # every replica of a service, found through Docker's DNS (type A), on the settings port
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: f"{name}:{sd['port']}"
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    defaults = Settings()
    assert targets["tierflow-worker"] == f"worker:{defaults.worker_metrics_port}"
    assert targets["tierflow-worker-sdk"] == f"worker:{defaults.worker_sdk_metrics_port}"
    assert targets["tierflow-ingress"] == f"ingress:{defaults.ingress_metrics_port}"
    assert targets["tierflow-notifier"] == f"notifier:{defaults.notifier_metrics_port}"
    assert targets["tierflow-api"] == f"api:{defaults.api_port}"
    for job in (
        "tierflow-worker",
        "tierflow-worker-sdk",
        "tierflow-ingress",
        "tierflow-notifier",
        "tierflow-api",
    ):
        assert targets[job].split(":")[0] in compose["services"]


def _dockerfile_sources() -> list[str]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    found = re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE)
    return [item for source in found for item in source.split()]


def test_dockerfile_copies_existing_sources() -> None:
    assert 'ENTRYPOINT ["tierflow"]' in (DEPLOY / "docker" / "Dockerfile").read_text()
    for item in _dockerfile_sources():
        assert (ROOT / item).exists(), f"Dockerfile copies missing {item}"


def test_the_image_holds_every_package_the_project_declares(tmp_path: Path) -> None:
    """The image's build installs what its COPY lines bring: a package pyproject declares but
    the Dockerfile leaves out (the what-if's, which the API imports) is a crash at start."""
    context = tmp_path / "context"
    for item in _dockerfile_sources():
        source, target = ROOT / item, context / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist() if "/" in name}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = {p.rstrip("*") for p in declared["packages"]["find"]["include"]}
    assert wanted <= packages, f"the image lacks {sorted(wanted - packages)}"


# ---------------------------------------------------------------------------- kubernetes
@pytest.fixture(scope="module")
def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in K8S:
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_every_k8s_document_is_named(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    assert k8s_docs
    for where, doc in k8s_docs:
        assert doc.get("apiVersion"), f"{where}: apiVersion is missing"
        assert doc.get("kind"), f"{where}: kind is missing"
        assert doc.get("metadata", {}).get("name"), f"{where} {doc.get('kind')}: metadata.name"


def deployments(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "Deployment"}


def test_deployments_have_probes_limits_and_scrape_annotations(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    found = deployments(k8s_docs)
    assert set(found) == {
        "tierflow-worker",
        "tierflow-ingress",
        "tierflow-notifier",
        "tierflow-api",
    }
    problems = []
    for name, dep in found.items():
        template = dep["spec"]["template"]
        selector = dep["spec"]["selector"]["matchLabels"]
        if not selector.items() <= template["metadata"]["labels"].items():
            problems.append(f"{name}: selector does not match the pod labels")
        notes = template["metadata"].get("annotations", {})
        for container in template["spec"]["containers"]:
            where = f"{name}/{container['name']}"
            if container.get("args") != [name.removeprefix("tierflow-")]:
                problems.append(f"{where}: args should run `tierflow {container['name']}`")
            ports = {p["containerPort"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                get = container.get(probe, {}).get("httpGet", {})
                path = probe_path(name.removeprefix("tierflow-"), probe)
                if get.get("path") != path or get.get("port") not in ports:
                    problems.append(f"{where}: {probe} must GET {path} on a container port")
            problems += _start_outlasted(where, name.removeprefix("tierflow-"), container)
            limits = container.get("resources", {}).get("limits", {})
            requests = container.get("resources", {}).get("requests", {})
            if not {"cpu", "memory"} <= set(limits) or not {"cpu", "memory"} <= set(requests):
                problems.append(f"{where}: resources need cpu and memory requests and limits")
            probe_port = container.get("readinessProbe", {}).get("httpGet", {}).get("port")
            if notes.get("prometheus.io/scrape") != "true" or notes.get(
                "prometheus.io/port"
            ) != str(probe_port):
                problems.append(f"{where}: scrape annotations must point at the metrics port")
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", [])]
            if refs != ["tierflow-config"]:
                problems.append(f"{where}: envFrom must use the tierflow-config ConfigMap")
    assert problems == []


def test_services_and_pdbs_select_deployments(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    pod_labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in deployments(k8s_docs).values()
    ]

    def selects(selector: dict[str, str]) -> bool:
        return any(selector.items() <= labels.items() for labels in pod_labels)

    pdbs = [d for _, d in k8s_docs if d["kind"] == "PodDisruptionBudget"]
    assert {p["metadata"]["name"] for p in pdbs} == set(deployments(k8s_docs))
    for _, doc in k8s_docs:
        if doc["kind"] == "Service":
            assert selects(doc["spec"]["selector"]), doc["metadata"]["name"]
        if doc["kind"] == "PodDisruptionBudget":
            assert selects(doc["spec"]["selector"]["matchLabels"]), doc["metadata"]["name"]


def test_configmap_sets_only_settings_fields(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    maps = {d["metadata"]["name"]: d for _, d in k8s_docs if d["kind"] == "ConfigMap"}
    assert set(maps) == {"tierflow-config", "tierflow-system-clients", "tierflow-notifier-rules"}
    data = maps["tierflow-config"]["data"]
    assert check_settings_env(data, "tierflow-config") == []
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap values: strings"


def test_k8s_ingress_reads_a_valid_system_clients_file_from_its_configmap(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    """Who may send commands is configured, not the local stack's packaged set."""
    [clients] = [d for _, d in k8s_docs if d["metadata"].get("name") == "tierflow-system-clients"]
    parsed = parse_system_clients(clients["data"]["system_clients.toml"], "k8s")
    assert parsed.clients and all(c.topic for c in parsed.clients), "own topics under SASL"
    pod = deployments(k8s_docs)["tierflow-ingress"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = Path(env["TIERFLOW_SYSTEM_CLIENTS_FILE"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    [volume] = [
        n
        for n, v in volumes.items()
        if v.get("configMap", {}).get("name") == clients["metadata"]["name"]
    ]
    assert str(path.parent) == mounts[volume] and path.name == "system_clients.toml"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S} - {"kustomization.yaml"}


# ---------------------------------------------------------------------------- k8s: secure defaults
# What each Deployment must wire from Secrets, and the files each mounted Secret must hold
# (the keys deploy/k8s/README.md tells operators to create).
SECRET_ENV = {"TIERFLOW_DATABASE_URL"}
PAYLOAD_SECRET_ENV = {"TIERFLOW_PAYLOAD_KEYS", "TIERFLOW_PAYLOAD_DECRYPT_ONLY_KEYS"}
KAFKA_SECRET_ENV = {"TIERFLOW_KAFKA_SASL_USERNAME", "TIERFLOW_KAFKA_SASL_PASSWORD"}
SMTP_SECRET_ENV = {"TIERFLOW_SMTP_USERNAME", "TIERFLOW_SMTP_PASSWORD"}
ALL_SECRET_ENV = SECRET_ENV | PAYLOAD_SECRET_ENV | KAFKA_SECRET_ENV | SMTP_SECRET_ENV
# Temporal clients (payloads through the codec, mTLS): the notifier only reads Kafka events
TEMPORAL_PROCESSES = {"tierflow-worker", "tierflow-ingress", "tierflow-api"}
KAFKA_PROCESSES = {"tierflow-worker", "tierflow-ingress", "tierflow-notifier"}  # not the api
SMTP_PROCESSES = {"tierflow-notifier"}
SECRET_FILES = {
    "tierflow-temporal-tls": {"tls.crt", "tls.key", "ca.crt"},
    "tierflow-kafka-ca": {"ca.crt"},
}


def secret_env_of(process: str) -> set[str]:
    """The variables a process must take from Secrets."""
    return (
        SECRET_ENV
        | (PAYLOAD_SECRET_ENV if process in TEMPORAL_PROCESSES else set())
        | (KAFKA_SECRET_ENV if process in KAFKA_PROCESSES else set())
        | (SMTP_SECRET_ENV if process in SMTP_PROCESSES else set())
    )


TEMPORAL_FILES = (
    "TIERFLOW_TEMPORAL_TLS_CA",
    "TIERFLOW_TEMPORAL_TLS_CERT",
    "TIERFLOW_TEMPORAL_TLS_KEY",
)
KAFKA_FILES = ("TIERFLOW_KAFKA_SSL_CAFILE",)


def k8s_config(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    [data] = [
        d["data"]
        for _, d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tierflow-config"
    ]
    return dict(data)


def test_k8s_configmap_turns_security_on_and_holds_no_secret(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    data = k8s_config(k8s_docs)
    assert data["TIERFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert data["TIERFLOW_KAFKA_SASL_MECHANISM"] in SASL_MECHANISMS
    for name in (*TEMPORAL_FILES, *KAFKA_FILES):
        assert data.get(name, "").startswith("/etc/tierflow/"), f"{name} must be a mounted file"
    assert data["TIERFLOW_TEMPORAL_TLS_SERVER_NAME"]
    leaked = ALL_SECRET_ENV & set(data)
    assert leaked == set(), "secrets come from Secrets, never from the ConfigMap"


def _secret_ref(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    for entry in container.get("env", []):
        if entry["name"] == name:
            return entry.get("valueFrom", {}).get("secretKeyRef")
    return None


def test_k8s_deployments_take_keys_and_credentials_from_secrets(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    problems = []
    for name, dep in deployments(k8s_docs).items():
        for container in dep["spec"]["template"]["spec"]["containers"]:
            for var in sorted(secret_env_of(name)):
                ref = _secret_ref(container, var)
                if ref is None:
                    problems.append(f"{name}: {var} must come from a secretKeyRef")
                elif ref.get("optional") and var != "TIERFLOW_PAYLOAD_DECRYPT_ONLY_KEYS":
                    problems.append(f"{name}: {var} must not be optional (fail closed)")
            literal = {e["name"] for e in container.get("env", []) if "value" in e}
            problems += [f"{name}: {v} set in clear" for v in literal & ALL_SECRET_ENV]
    assert problems == []


def _settings_of(
    data: dict[str, str], container: dict[str, Any], volumes: dict[str, Any], root: Path
) -> tuple[Settings, list[str]]:
    """Build the Settings a pod would read: ConfigMap, Secret refs (fake values), mounted files."""
    env = dict(data)
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if entry["name"] == "TIERFLOW_PAYLOAD_KEYS":
            env[entry["name"]] = f"k8s-test:{generate_key()}"
        elif ref is not None and not ref.get("optional"):
            env[entry["name"]] = f"from-secret-{ref['name']}-{ref['key']}"
        elif "value" in entry:
            env[entry["name"]] = entry["value"]
    unmounted = []
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    for name in (*TEMPORAL_FILES, *KAFKA_FILES):
        folder, _, file = env[name].rpartition("/")
        source = volumes.get(mounts.get(folder, ""), {}).get("secret", {}).get("secretName")
        if file not in SECRET_FILES.get(source, set()):
            unmounted.append(name)
            env[name] = str(root / "not-mounted" / file)
            continue
        local = root / folder.lstrip("/") / file
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
        env[name] = str(local)
    fields = {settings_field(k): v for k, v in env.items() if k.startswith("TIERFLOW_")}
    return Settings(_env_file=None, **fields), unmounted


def test_k8s_pods_can_read_the_secrets_they_mount(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    """A secret's files are root's, readable by the pod's fsGroup when their mode keeps others
    out: a pod running as a user of its own needs that group, Job or Deployment alike."""
    pods = [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for _, doc in k8s_docs
        if doc["kind"] in ("Deployment", "Job")
    ]
    for name, pod in pods:
        modes = [
            v["secret"].get("defaultMode", 0o644) for v in pod.get("volumes", []) if "secret" in v
        ]
        context = pod.get("securityContext", {})
        if any(mode & 0o004 == 0 for mode in modes) and context.get("runAsUser", 0) != 0:
            assert context.get("fsGroup") == context["runAsUser"], f"{name}: no fsGroup"
    assert any(name == "tierflow-temporal-setup" for name, _ in pods)


def test_k8s_pods_encrypt_payloads_and_connect_over_tls(
    k8s_docs: list[tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """The manifests, read as Settings, give the codec, Temporal mTLS and Kafka SASL_SSL to the
    processes that use them, and mount nothing else."""
    data = k8s_config(k8s_docs)
    for name, dep in deployments(k8s_docs).items():
        pod = dep["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            settings, unmounted = _settings_of(data, container, volumes, tmp_path / name)
            unused = [] if name in TEMPORAL_PROCESSES else list(TEMPORAL_FILES)
            unused += [] if name in KAFKA_PROCESSES else list(KAFKA_FILES)
            assert unmounted == unused, f"{name}: mounts what it uses, and only that"
            if name in TEMPORAL_PROCESSES:
                codec = data_converter(settings).payload_codec
                assert isinstance(codec, AesGcmCodec) and codec.active_key_id == "k8s-test", name
                tls = temporal_tls(settings)
                assert isinstance(tls, TLSConfig), f"{name}: Temporal without TLS"
                assert tls.client_cert and tls.client_private_key and tls.server_root_ca_cert
                assert tls.domain == data["TIERFLOW_TEMPORAL_TLS_SERVER_NAME"]
            if name in KAFKA_PROCESSES:
                kafka = kafka_security_kwargs(settings)
                assert kafka["security_protocol"] == "SASL_SSL", name
                assert kafka["ssl_cafile"].endswith("ca.crt")
                assert kafka["sasl_plain_password"].startswith("from-secret-tierflow-kafka-sasl")


def test_k8s_readme_names_every_secret_the_manifests_use(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    used = set(SECRET_FILES)
    for _, dep in k8s_docs:
        if dep["kind"] in {"Deployment", "Job"}:
            for container in dep["spec"]["template"]["spec"]["containers"]:
                used |= {
                    e["valueFrom"]["secretKeyRef"]["name"]
                    for e in container.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})
                }
    readme = (DEPLOY / "k8s" / "README.md").read_text()
    assert {s for s in used if f"`{s}`" not in readme} == set()


def test_k8s_api_replicas_share_the_console_csrf_secret_from_a_secret(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    pod = deployments(k8s_docs)["tierflow-api"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    [csrf] = [e for e in container["env"] if e["name"] == "TIERFLOW_CSRF_SECRET"]
    assert csrf["valueFrom"]["secretKeyRef"]["name"] == "tierflow-console"
    assert "TIERFLOW_CSRF_SECRET" not in k8s_config(k8s_docs)


def test_k8s_notifier_reads_valid_rules_from_its_configmap_and_mails_over_starttls(
    k8s_docs: list[tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """The rules file the notifier is pointed at is mounted and validates (every template in
    every language); mail goes by STARTTLS with AUTH from the Secret."""
    from workers.notifier.process import load_checked_rules, smtp_config
    from workers.notifier.templates import Templates

    [rules_map] = [d for _, d in k8s_docs if d["metadata"]["name"] == "tierflow-notifier-rules"]
    pod = deployments(k8s_docs)["tierflow-notifier"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = Path(env["TIERFLOW_NOTIFIER_RULES_FILE"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    [volume] = [
        v["name"]
        for v in pod["volumes"]
        if v.get("configMap", {}).get("name") == rules_map["metadata"]["name"]
    ]
    assert str(path.parent) == mounts[volume] and path.name in rules_map["data"]
    # the shipped ConfigMap is the packaged rules file, so the two cannot drift apart
    packaged = resources.files("workers.notifier").joinpath("data/rules.toml").read_text("utf-8")
    assert rules_map["data"][path.name] == packaged
    local = tmp_path / path.name
    local.write_text(rules_map["data"][path.name], "utf-8")
    volumes = {v["name"]: v for v in pod["volumes"]}
    settings, _ = _settings_of(k8s_config(k8s_docs), container, volumes, tmp_path / "pod")
    rules = load_checked_rules(
        settings.model_copy(update={"notifier_rules_file": local}), Templates()
    )
    assert rules.rule, "the deployed rules send nothing"
    secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    hooks = [*rules.webhook, *([rules.sms] if rules.sms else [])]
    assert {h.secret_env for h in hooks} <= secrets, "webhook and SMS secrets from Secrets"
    smtp = smtp_config(settings)
    assert smtp.starttls and smtp.host and smtp.port == 587
    assert smtp.username == "from-secret-tierflow-smtp-username"
    assert smtp.password == "from-secret-tierflow-smtp-password"


def test_only_the_ingress_controller_and_prometheus_reach_the_api_which_serves_no_cdn_docs(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    """The API trusts forwarded headers: a policy keeps every other pod from naming any
    address as the caller's (and locking it out of signing in), on the API's port only; the
    interactive docs, which load a CDN's scripts into the console's origin, are off."""
    api = deployments(k8s_docs)["tierflow-api"]
    [policy] = [d for _, d in k8s_docs if d["kind"] == "NetworkPolicy"]
    spec = policy["spec"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    assert spec["policyTypes"] == ["Ingress"]
    [rule] = spec["ingress"]
    port = api["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert [p["port"] for p in rule["ports"]] == [port]
    sources = rule["from"]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    } in sources
    env = {
        e["name"]: e.get("value") for e in api["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["FORWARDED_ALLOW_IPS"] == "*" and env["TIERFLOW_API_DOCS"] == "false"


# what each process waits for at start, one after the other (tierflow.startup)
START_WAITS = {"worker": 2, "ingress": 2, "notifier": 1}


def _start_outlasted(where: str, process: str, container: dict) -> list[str]:
    """A process's start waits (Temporal, then Kafka) fit in its startup probe: the liveness
    probe would otherwise kill it before it says what it could not reach."""
    waits = START_WAITS.get(process)
    if waits is None:
        return []
    probe = container.get("startupProbe")
    if probe is None:
        return [f"{where}: a startupProbe must cover its start waits"]
    lasts = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
    if lasts <= waits * STARTUP_WAIT_SECONDS:
        return [
            f"{where}: startupProbe lasts {lasts} s, its start waits up to "
            f"{waits * STARTUP_WAIT_SECONDS:.0f} s"
        ]
    return []
