"""The events a whole chaos lifecycle records, and the check that each request has exactly them."""

from __future__ import annotations

from tests.chaos.harness import ChaosStack

LIFECYCLE_TYPES = [
    "submitted",
    "assigned",
    "signed_for",  # acknowledging signs for it first
    "acknowledged",
    "started",
    "resolved",
    "closed",
]


def assert_whole_lifecycles(stack: ChaosStack, ids: set[str]) -> None:
    """Each request recorded LIFECYCLE_TYPES in order: no event lost, doubled or out of place."""
    rows = sorted(stack.transitions(ids), key=lambda r: (r.request_id, r.sequence))
    types: dict[str, list[str]] = {rid: [] for rid in ids}
    for row in rows:
        types[row.request_id].append(str(row.event_type))
    wrong = {rid: t for rid, t in types.items() if t != LIFECYCLE_TYPES}
    assert not wrong, f"{len(wrong)} requests with other events: {list(wrong.items())[:3]}"
