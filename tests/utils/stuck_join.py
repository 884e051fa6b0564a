"""Leave a group consumer's join unfinished, as kafka-python can (tierflow.kafka_fixes, item 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tierflow import constants


def revoked_until_replaced(owner: Any) -> Callable[[], bool]:
    """A probe for ``eventually``: True once ``owner`` (an ingress or the notifier's consumer,
    with ``join_watch``, ``rejoin_timeout``, ``_new_consumer`` and ``stats.rebuilds``) has
    replaced its consumer once.

    Each call reports a rebalance start to the owner's join watch, as the client does, unless
    a join is already open; kafka-python rejoins once right after a first join, which would
    otherwise finish the join the test started. The replacing consumer is given the usual
    patience: its own join, slow on a loaded host, is not another stuck one.
    """
    make = owner._new_consumer

    def patient_consumer() -> Any:
        owner.rejoin_timeout = constants.REJOIN_SECONDS
        return make()

    def probe() -> bool:
        if owner.stats.rebuilds == 0 and owner.join_watch.stuck_for() == 0:
            owner._new_consumer = patient_consumer
            owner.join_watch.on_partitions_revoked(set())
        return bool(owner.stats.rebuilds == 1)

    return probe
