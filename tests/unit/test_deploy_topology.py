"""docker compose and Kubernetes describe the production topology the cluster launchers run.

The figures come from ``tierflow_dev.devstack.topology`` (brokers, replication, min ISR,
history shards, replicas, probes) and from the launchers themselves (the broker config the
three-node cluster writes). Every check names the file and the field it found wrong.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierflow import kafka_io
from tierflow.settings import Settings
from tierflow_dev.devstack import topology
from tierflow_dev.devstack.kafka import server_properties
from tierflow_dev.devstack.kafka_cluster import KafkaCluster
from tierflow_dev.devstack.temporal_server import CONFIG_FILE, SCHEMAS, SOURCE_DIR

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
K8S = DEPLOY / "k8s"
K8S_TEMPORAL = K8S / "temporal"
TEMPORAL_DOCKERFILE = DEPLOY / "docker" / "temporal-server.Dockerfile"
PROCESSES = tuple(topology.REPLICAS)
# Broker settings that carry the topology (replication of every topic, internal ones too).
REPLICATION_PROPERTIES = (
    "default.replication.factor",
    "min.insync.replicas",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
)
TIERFLOW_KAFKA = {
    "TIERFLOW_KAFKA_REPLICATION_FACTOR": str(topology.KAFKA_REPLICATION_FACTOR),
    "TIERFLOW_KAFKA_MIN_INSYNC_REPLICAS": str(topology.KAFKA_MIN_INSYNC_REPLICAS),
}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def mismatch(where: str, found: Any, wanted: Any) -> list[str]:
    """Return one problem if ``found`` is not ``wanted``, naming the file and the field."""
    return [] if found == wanted else [f"{where} is {found!r}, the topology says {wanted!r}"]


def launcher_broker_properties() -> dict[str, str]:
    """Return server.properties of a node of the cluster launcher (three voters)."""
    ports = [(9101 + 2 * i, 9102 + 2 * i) for i in range(topology.KAFKA_BROKERS)]
    node = KafkaCluster(Path("/nonexistent"), ports).nodes[1]
    lines = server_properties(node).splitlines()
    return dict(line.split("=", 1) for line in lines)


def kafka_env_name(prop: str) -> str:
    """Return the apache/kafka image's variable for a server property."""
    return "KAFKA_" + prop.upper().replace(".", "_")


def healthz_port(command: list[str] | str) -> tuple[str, int] | None:
    """Return (path, port) of the http://127.0.0.1:PORT/PATH a health command requests."""
    found = re.search(r"http://(?:127\.0\.0\.1|localhost):(\d+)(/\w+)", " ".join(command))
    return (found.group(2), int(found.group(1))) if found else None


# ---------------------------------------------------------------------------- the figures
def test_the_figures_agree_with_the_code_that_runs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    props = launcher_broker_properties()
    assert props["default.replication.factor"] == str(topology.KAFKA_REPLICATION_FACTOR)
    assert props["min.insync.replicas"] == str(topology.KAFKA_MIN_INSYNC_REPLICAS)
    assert topology.KAFKA_MIN_INSYNC_REPLICAS < topology.KAFKA_REPLICATION_FACTOR, (
        "min ISR must be below the replication, or losing one broker stops every write"
    )
    assert topology.KAFKA_REPLICATION_FACTOR <= topology.KAFKA_BROKERS
    seen: dict[str, Any] = {}
    monkeypatch.setattr(kafka_io, "KafkaProducer", lambda **config: seen.update(config))
    kafka_io.make_producer("kafka-1:9092")
    assert seen["acks"] == topology.PRODUCER_ACKS and seen["enable_idempotence"] is True
    assert topology.TEMPORAL_CONFIG == CONFIG_FILE
    assert topology.TEMPORAL_HISTORY_SHARDS >= 1
    assert set(topology.PROBE_PORT_FIELDS) == set(topology.REPLICAS)
    assert set(topology.PROBE_PORT_FIELDS.values()) <= set(Settings.model_fields)


def test_the_shard_figure_is_read_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "postgres.yaml"
    pattern = r'default "\d+" \(env "NUM_HISTORY_SHARDS"\)'
    text, n = re.subn(pattern, 'default "16" (env "NUM_HISTORY_SHARDS")', CONFIG_FILE.read_text())
    assert n == 1, f"{rel(CONFIG_FILE)}: one default of NUM_HISTORY_SHARDS"
    config.write_text(text)
    assert topology.history_shards(config) == 16
    config.write_text("persistence:\n  numHistoryShards: 4\n")
    with pytest.raises(ValueError, match="NUM_HISTORY_SHARDS"):
        topology.history_shards(config)


# ---------------------------------------------------------------------------- compose
@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def brokers(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return the Kafka broker services (those that run a KRaft node)."""
    return {
        name: s
        for name, s in services.items()
        if "KAFKA_PROCESS_ROLES" in (s.get("environment") or {})
    }


def runs(services: dict[str, dict[str, Any]], process: str) -> dict[str, dict[str, Any]]:
    """Return the services that run ``tierflow <process>``."""
    return {n: s for n, s in services.items() if s.get("command") == [process]}


def test_compose_runs_three_brokers_in_one_static_quorum(
    services: dict[str, dict[str, Any]],
) -> None:
    found = brokers(services)
    where = rel(COMPOSE)
    problems = mismatch(
        f"{where}: the number of Kafka broker services", len(found), topology.KAFKA_BROKERS
    )
    ids = {name: s["environment"].get("KAFKA_NODE_ID") for name, s in found.items()}
    voters = ",".join(f"{node_id}@{name}:9093" for name, node_id in sorted(ids.items()))
    for name, service in found.items():
        env = service["environment"]
        field = f"{where}: services.{name}.environment"
        problems += mismatch(
            f"{field}.KAFKA_PROCESS_ROLES", env["KAFKA_PROCESS_ROLES"], "broker,controller"
        )
        problems += mismatch(
            f"{field}.KAFKA_CONTROLLER_QUORUM_VOTERS",
            env.get("KAFKA_CONTROLLER_QUORUM_VOTERS"),
            voters,
        )
        problems += mismatch(
            f"{field}.KAFKA_ADVERTISED_LISTENERS",
            env.get("KAFKA_ADVERTISED_LISTENERS"),
            f"PLAINTEXT://{name}:9092",
        )
    if len(set(ids.values())) != len(ids):
        problems.append(f"{where}: KAFKA_NODE_ID repeats among {sorted(ids)}: {ids}")
    cluster_ids = {s["environment"].get("CLUSTER_ID") for s in found.values()}
    if len(cluster_ids) != 1 or None in cluster_ids:
        problems.append(f"{where}: the brokers' CLUSTER_ID must be one value, found {cluster_ids}")
    assert problems == []


def test_compose_brokers_replicate_as_the_cluster_launcher_does(
    services: dict[str, dict[str, Any]],
) -> None:
    props = launcher_broker_properties()
    problems = []
    for name, service in brokers(services).items():
        env = service["environment"]
        for prop in REPLICATION_PROPERTIES:
            var = kafka_env_name(prop)
            field = f"{rel(COMPOSE)}: services.{name}.environment.{var}"
            problems += mismatch(field, env.get(var), props[prop])
    assert problems == []


def test_compose_creates_the_topics_replicated_with_min_isr(
    services: dict[str, dict[str, Any]],
) -> None:
    script = " ".join(services["kafka-setup"]["command"])
    field = f"{rel(COMPOSE)}: services.kafka-setup.command"
    found = re.search(r"--replication-factor (\d+)", script)
    isr = re.search(r"--config min\.insync\.replicas=(\d+)", script)
    problems = mismatch(
        f"{field} --replication-factor",
        found and int(found.group(1)),
        topology.KAFKA_REPLICATION_FACTOR,
    )
    problems += mismatch(
        f"{field} min.insync.replicas",
        isr and int(isr.group(1)),
        topology.KAFKA_MIN_INSYNC_REPLICAS,
    )
    bootstrap = re.search(r"--bootstrap-server (\S+)", script)
    listed = set(bootstrap.group(1).split(",")) if bootstrap else set()
    problems += mismatch(
        f"{field} --bootstrap-server", listed, {f"{n}:9092" for n in brokers(services)}
    )
    assert problems == []


def test_compose_tierflow_processes_use_all_brokers_and_the_replication(
    services: dict[str, dict[str, Any]],
) -> None:
    every_broker = {f"{name}:9092" for name in brokers(services)}
    problems = []
    for name, service in services.items():
        env = service.get("environment") or {}
        if "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS" not in env:
            continue
        field = f"{rel(COMPOSE)}: services.{name}.environment"
        listed = set(env["TIERFLOW_KAFKA_BOOTSTRAP_SERVERS"].split(","))
        problems += mismatch(f"{field}.TIERFLOW_KAFKA_BOOTSTRAP_SERVERS", listed, every_broker)
        for var, wanted in TIERFLOW_KAFKA.items():
            problems += mismatch(f"{field}.{var}", env.get(var), wanted)
    assert problems == []


def test_compose_runs_the_temporal_server_on_the_tested_config(
    services: dict[str, dict[str, Any]],
) -> None:
    where = rel(COMPOSE)
    problems = []
    server = services["temporal"]
    build = server.get("build", {})
    context = (COMPOSE.parent / build.get("context", ".")).resolve()
    problems += mismatch(f"{where}: services.temporal.build.context", context, SOURCE_DIR)
    dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
    problems += mismatch(
        f"{where}: services.temporal.build.dockerfile", dockerfile, TEMPORAL_DOCKERFILE
    )
    command = " ".join(server.get("command", []))
    started = re.search(r"temporal-server start --config-file (\S+)", command)
    image_config = started.group(1) if started else None
    problems += mismatch(
        f"{where}: services.temporal.command --config-file", image_config, config_in_image()
    )
    env = server.get("environment", {})
    problems += mismatch(
        f"{where}: services.temporal.environment.{topology.TEMPORAL_SHARDS_VARIABLE}",
        env.get(topology.TEMPORAL_SHARDS_VARIABLE),
        str(topology.TEMPORAL_HISTORY_SHARDS),
    )
    schema = services["temporal-schema"]
    problems += mismatch(
        f"{where}: services.temporal-schema.image", schema.get("image"), server.get("image")
    )
    script = " ".join(schema.get("command", []))
    for name in SCHEMAS:
        if name not in script or "temporal-server sql-tool" not in script:
            problems.append(
                f"{where}: services.temporal-schema.command must run sql-tool on {name}"
            )
    problems += mismatch(
        f"{where}: services.temporal.depends_on.temporal-schema.condition",
        server.get("depends_on", {}).get("temporal-schema", {}).get("condition"),
        "service_completed_successfully",
    )
    assert problems == []


def config_in_image() -> str:
    """Return where the Temporal image puts the tested config file (the Dockerfile's COPY)."""
    text = TEMPORAL_DOCKERFILE.read_text()
    copied = re.search(r"^COPY config/ (\S+)$", text, flags=re.MULTILINE)
    assert copied, f"{rel(TEMPORAL_DOCKERFILE)}: COPY config/ <dir> is missing"
    assert CONFIG_FILE.parent == SOURCE_DIR / "config"
    return copied.group(1).rstrip("/") + "/" + CONFIG_FILE.name


def test_compose_sets_temporal_up_with_tierflow_temporal_setup(
    services: dict[str, dict[str, Any]],
) -> None:
    where = rel(COMPOSE)
    setup = {n: s for n, s in services.items() if s.get("command") == ["temporal", "setup"]}
    assert list(setup) == ["temporal-setup"], (
        f"{where}: one service must run `tierflow temporal setup`"
    )
    problems = mismatch(
        f"{where}: services.temporal-setup.image",
        setup["temporal-setup"].get("image"),
        services["worker"]["image"],
    )
    for process in PROCESSES:
        for name, service in runs(services, process).items():
            condition = service.get("depends_on", {}).get("temporal-setup", {}).get("condition")
            problems += mismatch(
                f"{where}: services.{name}.depends_on.temporal-setup.condition",
                condition,
                "service_completed_successfully",
            )
    assert problems == []


def test_compose_runs_each_process_as_often_as_the_topology(
    services: dict[str, dict[str, Any]],
) -> None:
    problems = []
    for process, wanted in topology.REPLICAS.items():
        found = runs(services, process)
        count = sum(int(s.get("deploy", {}).get("replicas", 1)) for s in found.values())
        field = f"{rel(COMPOSE)}: services running [{process!r}] (deploy.replicas): {sorted(found)}"
        problems += mismatch(field, count, wanted)
    assert problems == []


def test_compose_checks_each_process_on_its_healthz_port(
    services: dict[str, dict[str, Any]],
) -> None:
    ports = topology.probe_ports()
    problems = []
    for process in PROCESSES:
        for name, service in runs(services, process).items():
            test = service.get("healthcheck", {}).get("test", [])
            field = f"{rel(COMPOSE)}: services.{name}.healthcheck.test"
            wanted = (topology.probe_path(process), ports[process])
            problems += mismatch(field, healthz_port(test), wanted)
    assert problems == []


def test_compose_ingresses_share_one_consumer_group(services: dict[str, dict[str, Any]]) -> None:
    default = Settings.model_fields["ingress_group"].default
    groups = {
        name: s.get("environment", {}).get("TIERFLOW_INGRESS_GROUP", default)
        for name, s in runs(services, "ingress").items()
    }
    assert len(set(groups.values())) == 1, f"{rel(COMPOSE)}: ingress consumer groups {groups}"


def test_compose_prometheus_scrapes_every_replica(services: dict[str, dict[str, Any]]) -> None:
    """Replicas share one service name: Prometheus finds each by DNS on its settings port."""
    path = DEPLOY / "compose" / "prometheus.yml"
    jobs = {j["job_name"]: j for j in yaml.safe_load(path.read_text())["scrape_configs"]}
    ports = topology.probe_ports()
    problems = []
    for process in PROCESSES:
        job = jobs[f"tierflow-{process}"]
        [found] = runs(services, process)
        sd = [(c["names"], c["port"]) for c in job.get("dns_sd_configs", [])]
        problems += mismatch(
            f"{rel(path)}: tierflow-{process}.dns_sd_configs", sd, [([found], ports[process])]
        )
    assert problems == []


# ---------------------------------------------------------------------------- kubernetes
def load_docs(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        docs += [(rel(path), d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.fixture(scope="module")
def k8s() -> list[tuple[str, dict[str, Any]]]:
    return load_docs(K8S)


@pytest.fixture(scope="module")
def k8s_temporal() -> list[tuple[str, dict[str, Any]]]:
    return load_docs(K8S_TEMPORAL)


def of_kind(
    docs: list[tuple[str, dict[str, Any]]], kind: str
) -> dict[str, tuple[str, dict[str, Any]]]:
    return {d["metadata"]["name"]: (where, d) for where, d in docs if d["kind"] == kind}


def test_k8s_configmap_carries_the_kafka_replication(k8s: list[tuple[str, dict[str, Any]]]) -> None:
    where, config = of_kind(k8s, "ConfigMap")["tierflow-config"]
    problems = []
    for var, wanted in TIERFLOW_KAFKA.items():
        problems += mismatch(
            f"{where}: tierflow-config data.{var}", config["data"].get(var), wanted
        )
    assert problems == []


def test_k8s_runs_each_process_as_often_as_the_topology_and_drains_leave_one(
    k8s: list[tuple[str, dict[str, Any]]],
) -> None:
    deployments = of_kind(k8s, "Deployment")
    pdbs = of_kind(k8s, "PodDisruptionBudget")
    problems = []
    for process, wanted in topology.REPLICAS.items():
        where, dep = deployments[f"tierflow-{process}"]
        replicas = dep["spec"].get("replicas", 1)
        problems += mismatch(f"{where}: tierflow-{process} spec.replicas", replicas, wanted)
        pdb_where, pdb = pdbs[f"tierflow-{process}"]
        keep = pdb["spec"].get("minAvailable")
        if not isinstance(keep, int) or not 1 <= keep < replicas:
            problems.append(
                f"{pdb_where}: tierflow-{process} spec.minAvailable is {keep!r}: keep at least one "
                f"of {replicas} replicas and let a drain evict one"
            )
    assert problems == []


def test_k8s_probes_each_process_on_its_healthz_port(k8s: list[tuple[str, dict[str, Any]]]) -> None:
    ports = topology.probe_ports()
    problems = []
    for process in PROCESSES:
        where, dep = of_kind(k8s, "Deployment")[f"tierflow-{process}"]
        [container] = dep["spec"]["template"]["spec"]["containers"]
        # a process that waits at start (Temporal, Kafka, a migration) is alive meanwhile: its
        # startup probe must not restart it
        starts = ("startupProbe",) if process != "api" else ()
        for probe in ("readinessProbe", "livenessProbe", *starts):
            get = container.get(probe, {}).get("httpGet", {})
            field = f"{where}: tierflow-{process} {container['name']}.{probe}.httpGet"
            wanted = (topology.probe_path(process, probe), ports[process])
            problems += mismatch(field, (get.get("path"), get.get("port")), wanted)
    assert problems == []


def test_k8s_ingresses_share_one_consumer_group(k8s: list[tuple[str, dict[str, Any]]]) -> None:
    where, dep = of_kind(k8s, "Deployment")["tierflow-ingress"]
    [container] = dep["spec"]["template"]["spec"]["containers"]
    per_pod = [e for e in container.get("env", []) if e["name"] == "TIERFLOW_INGRESS_GROUP"]
    # one Deployment, one group: a group taken from the pod's own name would split it
    assert all("value" in e for e in per_pod), f"{where}: TIERFLOW_INGRESS_GROUP must be a value"
    assert len(of_kind(k8s, "Deployment")) == len(topology.REPLICAS), "one Deployment per process"


def test_k8s_sets_temporal_up_with_tierflow_temporal_setup(
    k8s: list[tuple[str, dict[str, Any]]],
) -> None:
    setup = [
        (w, d)
        for w, d in of_kind(k8s, "Job").values()
        if d["spec"]["template"]["spec"]["containers"][0].get("args") == ["temporal", "setup"]
    ]
    assert len(setup) == 1, f"{rel(K8S)}: one Job must run `tierflow temporal setup`"
    [(where, job)] = setup
    [container] = job["spec"]["template"]["spec"]["containers"]
    _, worker = of_kind(k8s, "Deployment")["tierflow-worker"]
    [worker_container] = worker["spec"]["template"]["spec"]["containers"]
    problems = mismatch(f"{where}: image", container["image"], worker_container["image"])
    problems += mismatch(f"{where}: envFrom", container.get("envFrom"), worker_container["envFrom"])
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    if "/etc/tierflow/temporal-tls" not in mounts:
        problems.append(f"{where}: volumeMounts must mount the Temporal client certificate")
    assert problems == []


def test_k8s_temporal_release_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_TEMPORAL / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S_TEMPORAL.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, f"{rel(K8S_TEMPORAL)}/kustomization.yaml resources"


def test_k8s_temporal_server_runs_the_tested_config_with_the_shards(
    k8s: list[tuple[str, dict[str, Any]]], k8s_temporal: list[tuple[str, dict[str, Any]]]
) -> None:
    config_where, config = of_kind(k8s_temporal, "ConfigMap")["temporal-server-env"]
    var = topology.TEMPORAL_SHARDS_VARIABLE
    problems = mismatch(
        f"{config_where}: temporal-server-env data.{var}",
        config["data"].get(var),
        str(topology.TEMPORAL_HISTORY_SHARDS),
    )
    where, server = of_kind(k8s_temporal, "Deployment")["temporal-server"]
    problems += mismatch(
        f"{where}: temporal-server spec.replicas",
        server["spec"].get("replicas", 1),
        topology.TEMPORAL_SERVERS,
    )
    [container] = server["spec"]["template"]["spec"]["containers"]
    problems += mismatch(
        f"{where}: temporal-server args",
        container.get("args"),
        ["start", "--config-file", config_in_image()],
    )
    refs = [e["configMapRef"]["name"] for e in container.get("envFrom", [])]
    problems += mismatch(f"{where}: temporal-server envFrom", refs, ["temporal-server-env"])
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc", {})
        problems += mismatch(f"{where}: temporal-server {probe}.grpc.port", grpc.get("port"), 7233)
    for job_where, job in of_kind(k8s_temporal, "Job").values():
        [schema] = job["spec"]["template"]["spec"]["containers"]
        script = " ".join(schema.get("args", []))
        problems += mismatch(f"{job_where}: image", schema["image"], container["image"])
        problems += [
            f"{job_where}: args must run sql-tool on {s}" for s in SCHEMAS if s not in script
        ]
        problems += mismatch(
            f"{job_where}: envFrom", [e["configMapRef"]["name"] for e in schema["envFrom"]], refs
        )
    # tierflow's processes reach this server's frontend Service
    namespace = yaml.safe_load((K8S_TEMPORAL / "kustomization.yaml").read_text())["namespace"]
    services = of_kind(k8s_temporal, "Service")
    address = of_kind(k8s, "ConfigMap")["tierflow-config"][1]["data"]["TIERFLOW_TEMPORAL_ADDRESS"]
    host, _, port = address.partition(":")
    name, _, rest = host.partition(".")
    if name not in services or not rest.startswith(f"{namespace}.svc"):
        problems.append(
            f"deploy/k8s/configmap.yaml: TIERFLOW_TEMPORAL_ADDRESS {address} "
            f"is no Service of {rel(K8S_TEMPORAL)}"
        )
    elif int(port) not in {p["port"] for p in services[name][1]["spec"]["ports"]}:
        problems.append(f"{services[name][0]}: {name} does not serve port {port}")
    assert problems == []


def test_compose_and_k8s_run_temporal_with_the_same_shards(
    services: dict[str, dict[str, Any]], k8s_temporal: list[tuple[str, dict[str, Any]]]
) -> None:
    var = topology.TEMPORAL_SHARDS_VARIABLE
    compose = services["temporal"]["environment"][var]
    k8s = of_kind(k8s_temporal, "ConfigMap")["temporal-server-env"][1]["data"][var]
    assert compose == k8s == str(topology.TEMPORAL_HISTORY_SHARDS)


def test_the_temporal_image_builds_what_the_launcher_builds() -> None:
    text = TEMPORAL_DOCKERFILE.read_text()
    build = re.search(r"^RUN go build (.+) -o \S+ \.$", text, flags=re.MULTILINE)
    assert build, f"{rel(TEMPORAL_DOCKERFILE)}: RUN go build ... -o <binary> . is missing"
    from tierflow_dev.devstack.temporal_server import BUILD_FLAGS

    assert shlex.split(build.group(1)) == list(BUILD_FLAGS), (
        f"{rel(TEMPORAL_DOCKERFILE)}: go build flags"
    )
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for item in source.split():
            assert list(SOURCE_DIR.glob(item)), f"{rel(TEMPORAL_DOCKERFILE)} copies missing {item}"
