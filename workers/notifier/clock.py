"""The notifier's time, one object for a whole process: real time unless a test says otherwise.

The planner and the sender stamp rows with ``now``, the breakers time their cooldowns with
``monotonic``, and the sender pauses with ``wait``. Handing a process another clock (tests:
one that runs faster than the wall) lets hours of backoff, breaker cooldowns and the sender's
pauses pass in notifier time without the wall time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Real time: the production clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Pause ``seconds`` or until ``stop`` is set; True if it is set."""
        return stop.wait(seconds)
