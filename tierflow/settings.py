"""One settings object for every tierflow process (env prefix ``TIERFLOW_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.events import EVENT_SOURCE, EVENT_SOURCE_PATTERN
from tierflow.constants import (
    COMMANDS_TOPIC,
    DEAD_LETTER_TOPIC,
    EVENTS_TOPIC,
    INGRESS_GROUP,
    INGRESS_MAX_IN_FLIGHT,
    INGRESS_MAX_PENDING,
    INGRESS_MAX_POLL_RECORDS,
    INGRESS_SESSION_TIMEOUT_SECONDS,
    INGRESS_STALL_SECONDS,
    NOTIFIER_DEAD_LETTER_TOPIC,
    NOTIFIER_GROUP,
    NOTIFIER_SEND_STALL_SECONDS,
    NOTIFIER_STALL_SECONDS,
    TASK_QUEUE,
)


class Settings(BaseSettings):
    """Addresses, ports and paths; embedded defaults run the whole stack on one machine."""

    model_config = SettingsConfigDict(env_prefix="TIERFLOW_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".tierflow"), description="State folder of the local stack")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    temporal_ui_url: str = Field(
        default="",
        description="The Temporal UI as a browser reaches it (the console links a request's "
        "workflow there); empty: http://<the Temporal host>:<temporal_ui_port>, the dev server's",
    )
    task_queue: str = TASK_QUEUE

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    kafka_heap: str = "384m"
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="Replicas of each topic tierflow creates (3 in production)"
    )
    kafka_min_insync_replicas: int = Field(
        default=1, ge=1, description="Replicas an acks=all write must reach (2 in production)"
    )

    database_url: str = ""  # empty: SQLite file under ``home``

    metrics_host: str = Field(
        default="127.0.0.1", description="Bind address of /metrics and /healthz (0.0.0.0 in pods)"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_submit_per_second: float = Field(
        default=2.0, gt=0, description="Submissions a token may make per second (then 429)"
    )
    api_submit_burst: int = Field(default=20, ge=1, description="Submissions a token may burst")
    api_actions_per_second: float = Field(
        default=5.0, gt=0, description="Actions a token may take per second (then 429)"
    )
    api_actions_burst: int = Field(default=50, ge=1, description="Actions a token may burst")
    api_reads_per_second: float = Field(
        default=10.0,
        gt=0,
        description="Reads of one request (its live view) a token may make per second (then 429)",
    )
    api_reads_burst: int = Field(default=100, ge=1, description="Request reads a token may burst")
    api_system_rate_factor: float = Field(
        default=20.0,
        ge=1,
        description="A system client's token (a portal, a hotline serving many people) gets "
        "this many times every per-token rate and burst",
    )
    api_max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest request body the API reads (then 413)"
    )
    api_max_upload_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Largest upload: the console's directory import (a national directory)",
    )
    api_action_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long an action waits for its answer before a 503 naming the "
        "Idempotency-Key to repeat it with (keep it under the reverse proxy's read timeout)",
    )
    api_view_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long reading a request waits for its workflow's live view (a busy "
        "worker, a hung Temporal); past it, or once the client gives up on an unreachable "
        "Temporal, the request is read from the read model alone (view_missing: unavailable)",
    )
    api_sign_in_failures: int = Field(
        default=10,
        ge=1,
        description="Refused tokens one client address may send per window (API and console "
        "sign-in); past it its refused tokens get 429 until the window frees",
    )
    api_sign_in_failure_window_seconds: int = Field(
        default=600, ge=1, description="The window refused tokens are counted in, in seconds"
    )
    worker_metrics_port: int = 9464
    worker_sdk_metrics_port: int = 9465
    ingress_metrics_port: int = 9466

    payload_keys: SecretStr = Field(
        default=SecretStr(""),
        description="AES-GCM keys for Temporal payloads, comma-separated keyid:base64key; "
        "the first encrypts, all decrypt; empty: payloads are not encrypted",
    )
    payload_decrypt_only_keys: SecretStr = Field(
        default=SecretStr(""),
        description="AES-GCM keys (same format) that decrypt but never encrypt: phase 1 of a "
        "key rotation, before the key is promoted into payload_keys",
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_ssl_cafile: str = Field(default="", description="PEM CA that signed the broker cert")
    kafka_ssl_certfile: str = Field(default="", description="PEM client certificate")
    kafka_ssl_keyfile: str = Field(default="", description="PEM client private key")
    kafka_sasl_mechanism: str = Field(
        default="PLAIN", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str = Field(default="", description="SASL user")
    kafka_sasl_password: SecretStr = Field(default=SecretStr(""), description="SASL password")
    temporal_tls_ca: str = Field(default="", description="PEM CA of the Temporal frontend")
    temporal_tls_cert: str = Field(default="", description="PEM client certificate (mTLS)")
    temporal_tls_key: str = Field(default="", description="PEM client private key (mTLS)")
    temporal_tls_server_name: str = Field(default="", description="TLS server name to verify")

    commands_topic: str = Field(
        default=COMMANDS_TOPIC, description="Topic the ingress consumes commands from"
    )
    event_source: str = Field(
        default=EVENT_SOURCE,
        pattern=EVENT_SOURCE_PATTERN,
        description="The CloudEvents source of the lifecycle events this deployment publishes "
        "(a path such as /tierflow/zj, or a URI): consumers of several deployments tell their "
        "events apart by source and id",
    )
    dead_letter_topic: str = Field(
        default=DEAD_LETTER_TOPIC, description="Topic the ingress parks rejected commands on"
    )
    ingress_group: str = Field(
        default=INGRESS_GROUP, description="Kafka consumer group of the ingress processes"
    )
    ingress_not_found_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a command for a request not started yet is retried before it "
        "is dead-lettered as unknown_request (its partition's commit position waits meanwhile)",
    )

    worker_max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Open requests a worker keeps in memory (sticky cache); an action on one "
        "evicted from it replays its history first. Memory grows ~250 KB per cached request",
    )
    worker_max_concurrent_activities: int = Field(
        default=32, ge=1, description="Activities (DB writes, Kafka sends) a worker runs at once"
    )
    worker_max_concurrent_workflow_tasks: int = Field(
        default=100, ge=2, description="Workflow tasks a worker processes at once"
    )

    ingress_max_in_flight: int = Field(
        default=INGRESS_MAX_IN_FLIGHT,
        ge=1,
        description="Temporal calls the ingress makes at once (one request's commands are "
        "always applied one after another, in order)",
    )
    ingress_max_poll_records: int = Field(
        default=INGRESS_MAX_POLL_RECORDS,
        ge=1,
        description="Commands the ingress fetches per poll at most",
    )
    ingress_max_pending: int = Field(
        default=INGRESS_MAX_PENDING,
        ge=1,
        description="Commands fetched but not finished, shared equally by the assigned "
        "partitions: one holding its share is paused until its own commands finish (bounds "
        "memory while, say, commands wait for their requests' workflows, and keeps one "
        "client's flood to its own topic); polling goes on, so the group can still rebalance",
    )
    ingress_session_timeout_seconds: float = Field(
        default=INGRESS_SESSION_TIMEOUT_SECONDS,
        ge=6.0,  # the broker's default group.min.session.timeout.ms
        le=1800.0,  # and its default group.max.session.timeout.ms
        description="How long the group waits for a silent ingress (killed, hung) before its "
        "partitions go to another member or to it once restarted; a host so loaded that "
        "heartbeats come late wants more",
    )
    ingress_trust_sources: bool | None = Field(
        default=None,
        description="Whether a record's CloudEvents source may name its system client on the "
        "shared commands topic. Unset: yes on PLAINTEXT and SSL, no with SASL (the broker "
        "knows who writes; only a client's own topic names it). Set false when the brokers "
        "require TLS client certificates",
    )
    ingress_stall_seconds: float = Field(
        default=INGRESS_STALL_SECONDS,
        gt=0,
        description="/healthz of the ingress reports degraded when a partition has records "
        "waiting but its committed offset has not moved for this long",
    )

    csrf_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Key of the console's CSRF tokens; every API replica behind one address "
        "needs the same one. Empty: a random key per process (one replica only)",
    )
    csrf_accepted_secrets: SecretStr = Field(
        default=SecretStr(""),
        description="Further keys, comma-separated (no spaces; a key holds no comma), whose "
        "CSRF tokens the console accepts but "
        "never issues: a rotation's (the new key here on every replica first, then it becomes "
        "TIERFLOW_CSRF_SECRET with the old one here, then the old one goes)",
    )
    api_docs: bool = Field(
        default=True,
        description="Serve the interactive API docs (/docs, /redoc). They load Swagger UI and "
        "ReDoc from a CDN into the console's origin: production turns them off (the "
        "document itself stays at /openapi.json)",
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="Mark console cookies Secure even when the request arrived over HTTP (TLS "
        "ends at a proxy); HTTPS requests get Secure cookies anyway",
    )
    console_session_idle_minutes: float = Field(
        default=30, gt=0, description="A console session ends after this long without a page"
    )
    console_session_max_hours: float = Field(
        default=12, gt=0, description="A console session ends this long after sign-in"
    )

    system_clients_file: Path | None = Field(
        default=None,
        description="The systems allowed to send commands on Kafka, their grants and rates "
        "(TOML); empty: the packaged local-stack set",
    )
    notifier_events_topic: str = Field(
        default=EVENTS_TOPIC, description="Lifecycle events topic the notifier consumes"
    )
    notifier_dead_letter_topic: str = Field(
        default=NOTIFIER_DEAD_LETTER_TOPIC,
        description="Topic the notifier parks lifecycle events it cannot read",
    )
    notifier_group: str = Field(
        default=NOTIFIER_GROUP, description="Kafka consumer group of the notifier processes"
    )
    notifier_session_timeout_seconds: float = Field(
        default=45.0,
        ge=6.0,  # the broker's default group.min.session.timeout.ms
        le=1800.0,  # and its default group.max.session.timeout.ms
        description="How long the group waits for a silent notifier (killed, hung) before its "
        "partitions go to another member or to it once restarted (kafka-python's default)",
    )
    notifier_metrics_port: int = 9467
    notifier_rules_file: Path | None = Field(
        default=None,
        description="Who hears about which events, by which channels; webhook endpoints and "
        "the SMS gateway (TOML); empty: the packaged rules",
    )
    notifier_retry_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long a message to a failing endpoint is retried before it is "
        "dead-lettered (status dead)",
    )
    notifier_backoff_initial_seconds: float = Field(
        default=5.0, gt=0, description="First pause after a failed send; doubles each time"
    )
    notifier_backoff_max_seconds: float = Field(
        default=300.0, gt=0, description="Longest pause between two sends of one message"
    )
    notifier_breaker_failures: int = Field(
        default=5, ge=1, description="Failures in a row that open an endpoint's circuit breaker"
    )
    notifier_breaker_cooldown_seconds: float = Field(
        default=60.0, gt=0, description="How long an open breaker keeps sends to it waiting"
    )
    notifier_digest_minutes: float = Field(
        default=60.0, gt=0, description="A digest mail gathers a user's messages this long"
    )
    notifier_working_hours_only: bool = Field(
        default=True,
        description="Hold mail and SMS that are not urgent until working hours on the business "
        "calendar (false: send at once, as the local stack does)",
    )
    notifier_stall_seconds: float = Field(
        default=NOTIFIER_STALL_SECONDS,
        gt=0,
        description="/healthz of the notifier reports degraded when a partition has events "
        "waiting but its committed offset has not moved for this long",
    )
    notifier_send_stall_seconds: float = Field(
        default=NOTIFIER_SEND_STALL_SECONDS,
        gt=0,
        description="/healthz of the notifier reports degraded when a message has been due "
        "this long without a send attempt",
    )
    notifier_console_url: str = Field(
        default="http://127.0.0.1:8000/console",
        description="Base of the console links in messages to staff",
    )
    notifier_portal_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="Where an enterprise follows its request on the enterprise service "
        "portal, told in the e-mails to it (`{request_id}` in it is replaced); unset: the "
        "mails name the portal without an address",
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server of outgoing mail")
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_starttls: bool = Field(default=False, description="Upgrade to TLS with STARTTLS")
    smtp_ca_file: str = Field(
        default="", description="PEM CA that signed the SMTP server's certificate (empty: system)"
    )
    smtp_username: str = Field(default="", description="SMTP AUTH user (empty: no AUTH)")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP AUTH password")
    smtp_from: str = Field(
        default="tierflow <noreply@tierflow.localhost>", description="From: of every mail"
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)

    policy_file: Path | None = None  # None: the packaged SLA policy (before any release)
    policy_refresh_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How often a worker checks the database for promoted policy releases",
    )
    whatif_max_requests: int = Field(
        default=50_000,
        ge=1,
        description="The most requests a what-if run from the API or console may cover "
        "(larger runs: `tierflow whatif`, in parallel processes)",
    )
    directory_file: Path | None = None  # None: the packaged institution directory
    directory_refresh_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How often a worker checks the database for a newer directory version "
        "(and the Kafka ingress rereads the accounts a named person is checked against)",
    )

    @property
    def resolved_database_url(self) -> str:
        """Return the configured database URL, or the default SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'tierflow.db').resolve()}"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
