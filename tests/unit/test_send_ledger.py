"""The outbox's ledger of this process's sends forgets the oldest first, within its size."""

from __future__ import annotations

from typing import Any, cast

from activities.sent_before import SendLedger


def test_the_ledger_keeps_the_newest_sends_and_forgets_the_oldest() -> None:
    ledger = SendLedger(size=2)
    futures = {name: cast(Any, object()) for name in ("a", "b", "c")}
    for name, future in futures.items():
        ledger.add(name, future)
    assert ledger.get("a") is None
    assert ledger.get("b") is futures["b"]
    assert ledger.get("c") is futures["c"]

    ledger.add("b", futures["a"])  # sent again: now the newest
    ledger.add("d", futures["c"])
    assert ledger.get("c") is None
    assert ledger.get("b") is futures["a"]
