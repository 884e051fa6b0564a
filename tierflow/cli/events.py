"""`tierflow events`: Watch lifecycle events and publish commands.

What they print for people is in the operator's language (``tierflow.cli.texts``); the events
themselves (``tail --json``, and the codes in ``tail``'s one-line summaries) stay as sent.
"""

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

from tierflow.cli.texts import _, catalog, fail
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
            missing = _("--topic: topic %(topic)r does not exist on %(bootstrap)s")
            fail(missing % {"topic": topic, "bootstrap": bootstrap}, 2)
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
    from tierflow.i18n.refusals import refusal_text
    from tierflow.kafka_io import make_producer
    from tierflow.settings import Settings

    try:
        envelope: Any = json.loads(file.read_text())
    except ValueError as exc:
        fail(_("%(file)s is not JSON: %(error)s") % {"file": file, "error": exc}, 2)
    if not isinstance(envelope, dict):
        fail(_("%(file)s must hold a JSON object") % {"file": file}, 2)
    envelope.setdefault("specversion", "1.0")
    envelope.setdefault("id", str(uuid.uuid4()))
    envelope.setdefault("time", datetime.now(UTC).isoformat())
    value = json.dumps(envelope).encode()
    key = envelope.get("subject")
    if validate:
        try:
            parsed = parse_command(value, [])
        except CommandError as exc:
            worded = refusal_text(exc.worded, catalog()) if exc.worded else exc.message
            refused = {"code": exc.reason_code, "reason": worded}
            fail(_("not sent: %(code)s: %(reason)s") % refused, 2)
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
    where = f"{topic}[{meta.partition}]@{meta.offset}"
    done = _("published %(id)s (%(type)s) to %(where)s")
    typer.echo(done % {"id": event_id, "type": envelope.get("type"), "where": where})


def _security(settings: Any) -> dict[str, Any]:
    """Return the Kafka TLS/SASL kwargs every client here uses; a bad setting exits with 2."""
    from tierflow.tls import TlsConfigError, kafka_security_kwargs

    try:
        return kafka_security_kwargs(settings)
    except TlsConfigError as exc:
        fail(_("Kafka security settings: %(reason)s") % {"reason": exc}, 2)


@contextmanager
def _reachable(bootstrap: str, security: dict[str, Any]) -> Iterator[None]:
    """Turn "no broker" into one clear line and exit code 1."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        yield
    except (KafkaTimeoutError, KafkaConnectionError):
        protocol = security.get("security_protocol", "PLAINTEXT")
        hint = (
            _("start the local stack with `tierflow dev up`")
            if protocol == "PLAINTEXT"
            else _("check TIERFLOW_KAFKA_SECURITY_PROTOCOL, the CA and the SASL credentials")
        )
        unreachable = _(
            "Kafka is not reachable at %(bootstrap)s over %(protocol)s "
            "(TIERFLOW_KAFKA_BOOTSTRAP_SERVERS): %(hint)s"
        )
        fail(unreachable % {"bootstrap": bootstrap, "protocol": protocol, "hint": hint})


def _describe(msg: Any) -> str:
    """Return one line: where, when, what and about which request."""
    where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
    try:
        event = json.loads(msg.value)
        if not isinstance(event, dict):
            raise ValueError
    except ValueError:
        not_json = _("<not a JSON object: %(size)d bytes>") % {"size": len(msg.value)}
        return f"{where} {not_json}{_parked(msg)}"
    type_ = event.get("type", "?").removeprefix("org.tierflow.request.")
    subject, event_id = event.get("subject", "-"), event.get("id", "-")
    line = f"{where} {event.get('time', '-')} {type_} subject={subject} id={event_id}"
    data = event.get("data") or {}
    if isinstance(data, dict) and "to_state" in data:
        line += f" {data.get('from_state') or '-'}->{data['to_state']} tier={data.get('to_tier')}"
    return line + _parked(msg)


def _parked(msg: Any) -> str:
    """Why a record on a dead-letter topic was parked and where it came from, as a second
    line ('' for any other record): the reason lives in the copy's headers."""
    from schemas import dlq

    headers = {name: bytes(raw or b"").decode(errors="replace") for name, raw in msg.headers or []}
    if dlq.DLQ_REASON not in headers:
        return ""
    origin = "{}[{}]@{}".format(
        headers.get(dlq.DLQ_TOPIC, "?"),
        headers.get(dlq.DLQ_PARTITION, "?"),
        headers.get(dlq.DLQ_OFFSET, "?"),
    )
    parked = _("parked: %(code)s: %(reason)s (from %(origin)s, attempts: %(attempts)s)")
    return "\n  " + parked % {
        "code": headers[dlq.DLQ_REASON],
        "reason": _reason(headers.get(dlq.DLQ_MESSAGE, ""), headers.get(dlq.DLQ_WORDING)),
        "origin": origin,
        "attempts": headers.get(dlq.DLQ_ATTEMPTS, "?"),
    }


def _reason(english: str, wording: str | None) -> str:
    """A dead letter's reason in the reader's language when its wording header renders it
    (codes as words, as the CLI reads an API refusal), else as the message header has it."""
    from tierflow.i18n.refusals import wording_text

    try:
        reason = json.loads(wording) if wording else None
    except ValueError:  # not ours: the message as it is
        reason = None
    return wording_text(reason, english, catalog())
