"""`tierflow events`: Watch lifecycle events and publish commands."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from tierflow.constants import COMMANDS_TOPIC, EVENTS_TOPIC

BOOTSTRAP_TIMEOUT_MS = 10_000

app = typer.Typer(help="Watch lifecycle events and publish commands.", no_args_is_help=True)


@app.command()
def tail(
    topic: str = typer.Option(EVENTS_TOPIC, help="Topic to read"),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest"),
    max_events: int = typer.Option(0, "--max", help="Stop after N messages (0: never)"),
    idle: float = typer.Option(0, help="Stop after this many quiet seconds (0: never)"),
    raw: bool = typer.Option(False, "--json", help="Print each value as received"),
) -> None:
    """Print messages of a topic as they arrive (no consumer group, nothing committed)."""
    from kafka import KafkaConsumer, TopicPartition

    from tierflow.settings import Settings

    settings = Settings()
    bootstrap = settings.kafka_bootstrap_servers
    security = _security(settings)
    with _reachable(bootstrap, security):
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            **security,
        )
    try:
        if topic not in consumer.topics():
            raise typer.BadParameter(
                f"topic {topic!r} does not exist on {bootstrap}", param_hint="--topic"
            )
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))
        ]
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning()
        else:
            consumer.seek_to_end()
        seen, quiet_since = 0, time.monotonic()
        while max_events <= 0 or seen < max_events:
            batch = consumer.poll(
                timeout_ms=500, max_records=max(1, max_events - seen) if max_events else 500
            )
            for records in batch.values():
                for msg in records:
                    typer.echo(msg.value.decode(errors="replace") if raw else _describe(msg))
                    seen += 1
            if batch:
                quiet_since = time.monotonic()
            elif idle and time.monotonic() - quiet_since > idle:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@app.command()
def publish(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CloudEvent JSON file"),
    topic: str = typer.Option(COMMANDS_TOPIC, help="Topic to write"),
    validate: bool = typer.Option(True, help="Refuse commands the ingress would dead-letter"),
) -> None:
    """Send a command CloudEvent from a JSON file (id and time are filled in if missing)."""
    from schemas.events import CommandError, parse_command
    from tierflow.kafka_io import make_producer
    from tierflow.settings import Settings

    try:
        envelope: Any = json.loads(file.read_text())
    except ValueError as exc:
        raise typer.BadParameter(f"{file} is not JSON: {exc}", param_hint="FILE") from None
    if not isinstance(envelope, dict):
        raise typer.BadParameter(f"{file} must hold a JSON object", param_hint="FILE")
    envelope.setdefault("specversion", "1.0")
    envelope.setdefault("id", str(uuid.uuid4()))
    envelope.setdefault("time", datetime.now(UTC).isoformat())
    value = json.dumps(envelope).encode()
    key = envelope.get("subject")
    if validate:
        try:
            parsed = parse_command(value, [])
        except CommandError as exc:
            typer.secho(f"not sent: {exc.reason_code}: {exc.message}", fg="red", err=True)
            raise typer.Exit(2) from None
        key = parsed.request_id
    event_id = envelope["id"]
    settings = Settings()
    bootstrap = settings.kafka_bootstrap_servers
    security = _security(settings)
    with _reachable(bootstrap, security):
        producer = make_producer(bootstrap, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, **security)
    try:
        headers = [("content-type", b"application/cloudevents+json")]
        future = producer.send(
            topic, value=value, key=str(key).encode() if key else None, headers=headers
        )
        meta = future.get(timeout=30)
    finally:
        producer.close()
    typer.echo(
        f"published {event_id} ({envelope.get('type')}) to {topic}[{meta.partition}]@{meta.offset}"
    )


def _security(settings: Any) -> dict[str, Any]:
    """Return the Kafka TLS/SASL kwargs every client here uses; a bad setting exits with 2."""
    from tierflow.tls import TlsConfigError, kafka_security_kwargs

    try:
        return kafka_security_kwargs(settings)
    except TlsConfigError as exc:
        typer.secho(f"Kafka security settings: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _reachable(bootstrap: str, security: dict[str, Any]) -> Iterator[None]:
    """Turn "no broker" into one clear line and exit code 1."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        yield
    except (KafkaTimeoutError, KafkaConnectionError):
        protocol = security.get("security_protocol", "PLAINTEXT")
        hint = (
            "start the local stack with `tierflow dev up`"
            if protocol == "PLAINTEXT"
            else "check TIERFLOW_KAFKA_SECURITY_PROTOCOL, the CA and the SASL credentials"
        )
        typer.secho(
            f"Kafka is not reachable at {bootstrap} over {protocol} "
            f"(TIERFLOW_KAFKA_BOOTSTRAP_SERVERS): {hint}",
            fg="red",
            err=True,
        )
        raise typer.Exit(1) from None


def _describe(msg: Any) -> str:
    """Return one line: where, when, what and about which request."""
    where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
    try:
        event = json.loads(msg.value)
        if not isinstance(event, dict):
            raise ValueError
    except ValueError:
        return f"{where} <not a JSON object: {len(msg.value)} bytes>"
    type_ = event.get("type", "?").removeprefix("org.tierflow.request.")
    subject, event_id = event.get("subject", "-"), event.get("id", "-")
    line = f"{where} {event.get('time', '-')} {type_} subject={subject} id={event_id}"
    data = event.get("data") or {}
    if isinstance(data, dict) and "to_state" in data:
        line += f" {data.get('from_state') or '-'}->{data['to_state']} tier={data.get('to_tier')}"
    return line
