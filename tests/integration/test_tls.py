"""Transport security against real servers: Kafka over SASL_SSL, Temporal over mTLS.

Certificates (a CA, a server and a client certificate, plus an untrusted CA) are made with
``cryptography`` in a temporary folder. Kafka: a second real broker with a SASL_SSL listener
(PLAIN and SCRAM-SHA-512, PEM keystore). Temporal: the dev server has no TLS flags, so a real
TLS endpoint that requires client certificates (Python's ssl, ALPN h2) sits in front of the
real session dev server and forwards the bytes; the SDK's TLS and mTLS handshakes run for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import UserScramCredentialUpsertion
from kafka.errors import KafkaError
from temporalio.client import Client
from typer.testing import CliRunner

from tests.fixtures.kafka import free_port_pair, unique_topic_name
from tierflow.cli import app as cli_app
from tierflow.kafka_io import make_producer
from tierflow.tls import TlsConfigError, kafka_security_kwargs, temporal_tls
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer

KAFKA_USER, KAFKA_PASSWORD = "tierflow", f"pw-{uuid.uuid4().hex}"
SCRAM_USER, SCRAM_PASSWORD = "tierflow-scram", f"scram-{uuid.uuid4().hex}"


# ------------------------------------------------------------------ certificates
@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    server_keystore: Path  # key + chain in one PEM file, as Kafka's PEM keystore wants
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA nobody trusts


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=usage is None, path_length=None), critical=True)
    )
    if usage is not None:
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    """Write a CA, a server and a client certificate (and an untrusted CA) as PEM files."""
    pem = serialization.Encoding.PEM
    ca_key, other_key = _key(), _key()
    ca = _cert("tierflow test CA", ca_key)
    other = _cert("someone else's CA", other_key)
    files: dict[str, bytes] = {
        "ca.pem": ca.public_bytes(pem),
        "other-ca.pem": other.public_bytes(pem),
    }
    for role, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = _key()
        cert = _cert(f"tierflow {role}", key, (ca.subject, ca_key), usage)
        files[f"{role}.pem"] = cert.public_bytes(pem) + ca.public_bytes(pem)
        files[f"{role}.key"] = _key_pem(key)
    files["server-keystore.pem"] = files["server.key"] + files["server.pem"]
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return Pki(
        *(folder / n for n in ("ca.pem", "server.pem", "server.key", "server-keystore.pem")),
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        other_ca=folder / "other-ca.pem",
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# ------------------------------------------------------------------ Kafka over SASL_SSL
@dataclass
class SecureBroker:
    broker: KafkaBroker
    sasl_port: int

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    """Run a real broker with a SASL_SSL listener (PLAIN + SCRAM-SHA-512, PEM keystore)."""
    port, controller_port = free_port_pair()
    sasl_port = free_port()
    plain_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{KAFKA_USER}="{KAFKA_PASSWORD}";'
    )
    broker = KafkaBroker(
        home=tmp_path_factory.mktemp("kafka-sasl-home"),
        port=port,
        controller_port=controller_port,
        extra_listeners={"SASL_SSL": sasl_port},
        extra_properties={
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": plain_jaas,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(pki.server_keystore),
        },
    )
    broker.start(timeout=180)
    try:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)  # PLAINTEXT: broker-local
        try:
            errors = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(SCRAM_USER, "SCRAM-SHA-512", SCRAM_PASSWORD)]
            )
            assert errors == {SCRAM_USER: None}, errors
        finally:
            admin.close()
        yield SecureBroker(broker, sasl_port)
    finally:
        broker.stop()


def kafka_settings(pki: Pki, **over: Any) -> SimpleNamespace:
    values = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_ssl_cafile": str(pki.ca),
        "kafka_sasl_mechanism": "PLAIN",
        "kafka_sasl_username": KAFKA_USER,
        "kafka_sasl_password": KAFKA_PASSWORD,
    }
    return SimpleNamespace(**{**values, **over})


def round_trip(bootstrap: str, settings: SimpleNamespace, topic: str) -> bytes:
    """Produce one message and consume it back over the configured protocol."""
    kwargs = kafka_security_kwargs(settings)
    body = f"hello {uuid.uuid4().hex}".encode()
    producer = make_producer(bootstrap, **kwargs)
    try:
        producer.send(topic, value=body, key=b"k").get(timeout=30)
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15_000,
        **kwargs,
    )
    try:
        return next(m.value for m in consumer if m.value == body)
    finally:
        consumer.close()


def test_kafka_plain_over_sasl_ssl_round_trip(secure_broker: SecureBroker, pki: Pki) -> None:
    topic = unique_topic_name("sasl-plain")
    secure_broker.broker.ensure_topics({topic: 1})
    settings = kafka_settings(pki)
    assert kafka_security_kwargs(settings)["security_protocol"] == "SASL_SSL"
    assert round_trip(secure_broker.sasl_bootstrap, settings, topic).startswith(b"hello ")


def test_kafka_scram_sha_512_over_sasl_ssl(secure_broker: SecureBroker, pki: Pki) -> None:
    topic = unique_topic_name("sasl-scram")
    secure_broker.broker.ensure_topics({topic: 1})
    settings = kafka_settings(
        pki,
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=SCRAM_USER,
        kafka_sasl_password=SCRAM_PASSWORD,
    )
    assert round_trip(secure_broker.sasl_bootstrap, settings, topic).startswith(b"hello ")


@pytest.mark.parametrize(
    ("over", "broker_says", "client_says"),
    [
        ({"kafka_sasl_password": "wrong-password"}, "Invalid username or password", ""),
        ({"kafka_sasl_username": "nobody"}, "Invalid username or password", ""),
        ({"kafka_ssl_cafile": "OTHER_CA"}, "SSL handshake failed", "CERTIFICATE_VERIFY_FAILED"),
    ],
    ids=["wrong-password", "unknown-user", "untrusted-ca"],
)
def test_kafka_refuses_bad_credentials(
    secure_broker: SecureBroker,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    over: dict[str, str],
    broker_says: str,
    client_says: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="kafka")
    over = {k: str(pki.other_ca) if v == "OTHER_CA" else v for k, v in over.items()}
    kwargs = kafka_security_kwargs(kafka_settings(pki, **over))
    log = secure_broker.broker.log_path
    offset = log.stat().st_size
    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        make_producer(secure_broker.sasl_bootstrap, bootstrap_timeout_ms=4000, **kwargs)
    assert client_says in caplog.text
    with log.open("rb") as f:
        f.seek(offset)
        broker_log = f.read().decode(errors="replace")
    assert "Failed authentication with /127.0.0.1" in broker_log
    assert broker_says in broker_log
    assert KAFKA_PASSWORD not in log.read_text(errors="replace")  # secrets never logged


def test_kafka_plaintext_default_and_config_errors(tmp_path: Path) -> None:
    assert kafka_security_kwargs(SimpleNamespace()) == {}
    with pytest.raises(TlsConfigError, match="kafka_security_protocol: 'TLS'"):
        kafka_security_kwargs(SimpleNamespace(kafka_security_protocol="TLS"))
    with pytest.raises(TlsConfigError, match="kafka_sasl_password: required"):
        kafka_security_kwargs(
            SimpleNamespace(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u")
        )
    with pytest.raises(TlsConfigError, match="kafka_ssl_cafile: file .* does not exist"):
        kafka_security_kwargs(
            SimpleNamespace(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "no.pem")
        )


# ------------------------------------------------------------------ Temporal over mTLS
class MtlsFrontend:
    """A real TLS endpoint that demands a client certificate and forwards to the dev server."""

    def __init__(self, pki: Pki, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self.context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.set_alpn_protocols(["h2"])
        self.handshakes = 0
        self.server: asyncio.AbstractServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> MtlsFrontend:
        self.server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.context
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()


@pytest_asyncio.fixture
async def mtls_frontend(
    temporal_dev_server: TemporalDevServer, pki: Pki
) -> AsyncIterator[MtlsFrontend]:
    host, port = temporal_dev_server.address.rsplit(":", 1)
    async with MtlsFrontend(pki, (host, int(port))) as frontend:
        yield frontend


def temporal_settings(pki: Pki, **over: Any) -> SimpleNamespace:
    values = {
        "temporal_tls_ca": str(pki.ca),
        "temporal_tls_cert": str(pki.client_cert),
        "temporal_tls_key": str(pki.client_key),
        "temporal_tls_server_name": "localhost",
    }
    return SimpleNamespace(**{**values, **over})


async def connect(frontend: MtlsFrontend, settings: SimpleNamespace) -> Client:
    return await Client.connect(
        frontend.address,
        tls=temporal_tls(settings),
        connect_timeout=timedelta(seconds=5),
    )


async def test_temporal_mtls_client_reaches_the_server(
    mtls_frontend: MtlsFrontend, pki: Pki
) -> None:
    client = await connect(mtls_frontend, temporal_settings(pki))
    workflow_id = f"never-started-{uuid.uuid4().hex}"
    assert await client.count_workflows(f'WorkflowId = "{workflow_id}"') is not None
    assert mtls_frontend.handshakes >= 1


@pytest.mark.parametrize(
    "over",
    [
        {"temporal_tls_cert": None, "temporal_tls_key": None},  # no client certificate
        {"temporal_tls_ca": "OTHER_CA"},  # server certificate not trusted
        {"temporal_tls_server_name": "temporal.example.org"},  # name not in the certificate
    ],
    ids=["no-client-cert", "untrusted-ca", "wrong-server-name"],
)
async def test_temporal_mtls_refuses_bad_config(
    mtls_frontend: MtlsFrontend, pki: Pki, over: dict[str, str | None]
) -> None:
    over = {k: str(pki.other_ca) if v == "OTHER_CA" else v for k, v in over.items()}
    # which side aborts the handshake, and so the client's error, depends on timing; in every
    # case no TLS session is established and nothing reaches the server behind the frontend
    with pytest.raises(RuntimeError):
        client = await connect(mtls_frontend, temporal_settings(pki, **over))
        await client.count_workflows()
    assert mtls_frontend.handshakes == 0


def test_temporal_tls_from_settings(pki: Pki) -> None:
    assert temporal_tls(SimpleNamespace()) is False
    config = temporal_tls(temporal_settings(pki))
    assert config is not False and config is not True
    assert config.server_root_ca_cert == pki.ca.read_bytes()
    assert config.client_cert == pki.client_cert.read_bytes()
    assert config.client_private_key == pki.client_key.read_bytes()
    assert config.domain == "localhost"
    with pytest.raises(TlsConfigError, match="temporal_tls_cert and temporal_tls_key"):
        temporal_tls(temporal_settings(pki, temporal_tls_key=None))


# ------------------------------------------------------------------ `tierflow events` over SASL_SSL
def events_cli(env: dict[str, str], *args: str) -> Result:
    """``tierflow events ...`` in English (the default, Chinese: test_cli_language)."""
    return CliRunner().invoke(cli_app, ["events", *args], env={"TIERFLOW_LANG": "en", **env})


def test_events_cli_publishes_and_tails_over_sasl_ssl(
    secure_broker: SecureBroker, pki: Pki, tmp_path: Path
) -> None:
    topic = unique_topic_name("cli-sasl")
    secure_broker.broker.ensure_topics({topic: 1})
    env = {
        "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": secure_broker.sasl_bootstrap,
        "TIERFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TIERFLOW_KAFKA_SSL_CAFILE": str(pki.ca),
        "TIERFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TIERFLOW_KAFKA_SASL_USERNAME": SCRAM_USER,
        "TIERFLOW_KAFKA_SASL_PASSWORD": SCRAM_PASSWORD,
    }
    command = tmp_path / "command.json"
    marker = f"cli-{uuid.uuid4().hex}"
    command.write_text(f'{{"type": "x.v1", "source": "/test", "subject": "{marker}"}}')
    sent = events_cli(env, "publish", str(command), "--topic", topic, "--no-validate")
    assert sent.exit_code == 0, sent.output
    assert f"to {topic}[0]@0" in sent.output
    read = events_cli(env, "tail", "--topic", topic, "--from-beginning", "--max", "1", "--json")
    assert read.exit_code == 0, read.output
    assert marker in read.output
    # the same commands without the security settings cannot reach the SASL_SSL listener
    plain = {"TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": secure_broker.sasl_bootstrap}
    refused = events_cli(plain, "tail", "--topic", topic, "--max", "1")
    assert refused.exit_code == 1
    assert "not reachable at" in refused.output and "over PLAINTEXT" in refused.output
    no_password = {**env, "TIERFLOW_KAFKA_SASL_PASSWORD": ""}
    unknown = events_cli(no_password, "publish", str(command), "--no-validate")
    assert unknown.exit_code == 2
    assert "kafka_sasl_password: required" in unknown.output
    assert SCRAM_PASSWORD not in read.output + refused.output + unknown.output
