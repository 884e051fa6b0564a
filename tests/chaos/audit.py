""" "Nothing lost, nothing doubled": the checks every fault test ends with.

Per request: audit rows (the ``transition`` table) have sequences 1..n without gaps, each
event id ``<request id>:<sequence>`` once, the read model's ``last_sequence`` is n; every
audit event appears on the events topic exactly once and nothing else does; every action id
that was applied has exactly one audit row.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.harness import ChaosStack
from tests.utils.eventually import eventually_sync

FIGURES_ENV = "TIERFLOW_CHAOS_FIGURES"


@dataclass
class AuditReport:
    """Counts out of one run (what the docs' figures table shows)."""

    requests: int = 0
    audit_rows: int = 0
    kafka_records: int = 0
    kafka_unique: int = 0
    kafka_duplicates: int = 0
    actions_checked: int = 0
    types: dict[str, int] = field(default_factory=dict)


def check_audit(
    stack: ChaosStack,
    request_ids: Iterable[str],
    *,
    applied_actions: Iterable[str] = (),
    kafka_timeout: float = 90,
) -> AuditReport:
    """Assert the audit trail and the events topic are complete and free of doubles."""
    ids = set(request_ids)
    rows = stack.transitions(ids)
    by_request: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_request[row.request_id].append(row)
    missing = sorted(ids - set(by_request))
    assert not missing, f"{len(missing)} requests have no audit rows: {missing[:5]}"
    states = stack.states(ids)
    for rid, mine in by_request.items():
        seqs = sorted(r.sequence for r in mine)
        assert seqs == list(range(1, len(seqs) + 1)), f"{rid}: sequences not contiguous: {seqs}"
        bad = [r.event_id for r in mine if r.event_id != f"{rid}:{r.sequence}"]
        assert not bad, f"{rid}: event ids do not match their sequence: {bad}"
        assert states[rid].last_sequence == len(seqs), (
            f"{rid}: read model last_sequence {states[rid].last_sequence} != {len(seqs)} rows"
        )
    audit_ids = {r.event_id for r in rows}

    per_action = Counter(r.action_id for r in rows if r.action_id)
    doubled = {a: n for a, n in per_action.items() if n > 1}
    assert not doubled, f"action ids with more than one audit row: {list(doubled.items())[:5]}"
    wanted = set(applied_actions)
    lost = sorted(wanted - set(per_action))
    assert not lost, f"{len(lost)} applied actions have no audit row: {lost[:5]}"

    events = _events_until_complete(stack, ids, audit_ids, kafka_timeout)
    by_id: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_id[event["id"]].append(event)
    on_kafka = set(by_id)
    not_published = sorted(audit_ids - on_kafka)
    assert not not_published, f"{len(not_published)} events not on Kafka: {not_published[:5]}"
    if on_kafka - audit_ids:
        # a request still running (an SLA timer) persisted more since the rows were read:
        # persist precedes publish, so every event read from Kafka has its row by now
        audit_ids |= {r.event_id for r in stack.transitions(ids)}
    unknown = sorted(on_kafka - audit_ids)
    assert not unknown, f"{len(unknown)} events on Kafka without an audit row: {unknown[:5]}"
    copied = {event_id: len(copies) for event_id, copies in by_id.items() if len(copies) > 1}
    assert not copied, f"{len(copied)} events more than once on Kafka: {list(copied.items())[:5]}"
    return AuditReport(
        requests=len(ids),
        audit_rows=len(rows),
        kafka_records=len(events),
        kafka_unique=len(on_kafka),
        kafka_duplicates=len(events) - len(on_kafka),
        actions_checked=len(wanted),
        types=dict(Counter(str(r.event_type) for r in rows)),
    )


def _events_until_complete(
    stack: ChaosStack, ids: set[str], audit_ids: set[str], timeout: float
) -> list[dict]:
    """Read the events topic until it holds every audit event id (publish follows persist)."""
    events: list[dict] = []

    def complete() -> bool:
        events[:] = stack.events(ids)
        return audit_ids <= {e["id"] for e in events}

    def missing() -> str:
        absent = sorted(audit_ids - {e["id"] for e in events})
        return f"{len(absent)} events not on Kafka: {absent[:5]}"

    # each probe reads the whole topic: pause up to 2 s between reads
    eventually_sync(complete, timeout, "every audit event on Kafka", detail=missing, max_interval=2)
    return events


def record_figures(test: str, figures: dict[str, Any]) -> None:
    """Print the run's figures and append them to $TIERFLOW_CHAOS_FIGURES (JSON lines)."""
    plain = {k: asdict(v) if isinstance(v, AuditReport) else v for k, v in figures.items()}
    line = json.dumps({"test": test, **plain}, default=str, sort_keys=True)
    print(f"\nCHAOS FIGURES {line}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
