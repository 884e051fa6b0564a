"""Clocks tests control: one moved by hand, and a notifier clock that runs faster than the wall."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from workers.notifier.clock import Clock


class ManualClock:
    """A monotonic clock the test moves by hand (``clock.now += 5``), for code that takes one."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FastClock(Clock):
    """Notifier time running ``speed`` times faster than the wall, from now on: its rows'
    stamps, breaker cooldowns and pauses all scale, so a long outage passes in seconds."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._wall0, self._now0 = time.monotonic(), datetime.now(UTC)

    def monotonic(self) -> float:
        return self._wall0 + (time.monotonic() - self._wall0) * self.speed

    def now(self) -> datetime:
        return self._now0 + timedelta(seconds=self.monotonic() - self._wall0)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds / self.speed)
