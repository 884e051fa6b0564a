"""Leave a group consumer's join unfinished, as kafka-python can (tierflow.kafka_fixes, item 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def revoked_until_replaced(owner: Any) -> Callable[[], bool]:
    """A probe for ``eventually``: True once ``owner`` (an ingress or the notifier's consumer,
    with ``join_watch`` and ``stats.rebuilds``) has replaced its consumer once.

    Each call reports a rebalance start to the owner's join watch, as the client does, unless
    a join is already open; kafka-python rejoins once right after a first join, which would
    otherwise finish the join the test started.
    """

    def probe() -> bool:
        if owner.stats.rebuilds == 0 and owner.join_watch.stuck_for() == 0:
            owner.join_watch.on_partitions_revoked(set())
        return bool(owner.stats.rebuilds == 1)

    return probe
