"""How big a chaos run is: ``TIERFLOW_CHAOS_SCALE`` (1.0 = the CI size, 10 = the full size).

Sizes grow linearly from the CI figure at scale 1 to the full figure at scale 10 (and keep
growing past it); below 1 they shrink proportionally, never under a floor that still injects
the fault. Every test reads its sizes here so one variable sizes the whole suite.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV = "TIERFLOW_CHAOS_SCALE"
FULL_SCALE = 10.0


def chaos_scale() -> float:
    """Return the scale from the environment (default 1.0, the CI size)."""
    raw = os.environ.get(ENV, "1.0").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV}: {raw!r} is not a number (1.0 = CI size, 10 = full)") from None
    if value <= 0:
        raise ValueError(f"{ENV}: must be > 0, got {value}")
    return value


def scaled(ci: float, full: float, scale: float, floor: float = 1) -> float:
    """Interpolate between the CI size (scale 1) and the full size (scale 10)."""
    if scale >= 1:
        return ci + (full - ci) * (scale - 1) / (FULL_SCALE - 1)
    return max(floor, ci * scale)


@dataclass(frozen=True)
class Sizes:
    """Every size the chaos suite uses, for one scale."""

    scale: float
    # 1. worker kill -9
    kill_lifecycles: int
    worker_kills: int
    kill_interval: float
    # 5. ingress kill -9
    ingress_requests: int
    ingress_kills: int
    # 2. Kafka broker down
    kafka_lifecycles: int
    kafka_outage: float
    # 3. Temporal restarts
    temporal_restarts: int
    temporal_urgent: int
    temporal_lifecycles: int
    # 4. database locked
    db_lifecycles: int
    db_lock_seconds: float
    # 6. bad input
    bad_commands: int
    good_requests: int
    unknown_requests: int
    # 7. duplicates and shuffles
    shuffle_requests: int

    @property
    def settle_timeout(self) -> float:
        """Seconds to wait for a run to drain after its faults (grows with the size)."""
        return 120 + 60 * max(0.0, self.scale - 1)

    @property
    def test_timeout(self) -> float:
        """pytest-timeout for one chaos test (fixture start-up included)."""
        return 420 + 240 * max(0.0, self.scale - 1)


def sizes(scale: float | None = None) -> Sizes:
    """Return the sizes for ``scale`` (default: from the environment)."""
    s = chaos_scale() if scale is None else scale

    def n(ci: float, full: float, floor: float = 1) -> int:
        return max(int(floor), round(scaled(ci, full, s, floor)))

    return Sizes(
        scale=s,
        kill_lifecycles=n(60, 1000, 6),
        worker_kills=n(3, 10),
        kill_interval=scaled(5.0, 12.0, s, 3.0),
        ingress_requests=n(30, 300, 6),
        ingress_kills=n(2, 5),
        kafka_lifecycles=n(30, 300, 6),
        kafka_outage=scaled(10.0, 60.0, s, 5.0),
        temporal_restarts=n(2, 5),
        temporal_urgent=n(10, 50, 3),
        temporal_lifecycles=n(20, 200, 4),
        db_lifecycles=n(20, 200, 4),
        db_lock_seconds=scaled(14.0, 60.0, s, 12.0),
        bad_commands=n(1000, 10_000, 100),
        good_requests=n(40, 400, 6),
        unknown_requests=n(2, 12),
        shuffle_requests=n(30, 300, 6),
    )
