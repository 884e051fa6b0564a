"""A circuit breaker per endpoint: after some failures in a row, stop trying for a while.

An endpoint that is down would otherwise be hit by every message due for it; with the breaker
open, those messages wait (they are rescheduled, not failed) until the cooldown ends, and then
one attempt decides whether it closes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0


class Breakers:
    """The breakers of every endpoint, by name; one process's view (not shared)."""

    def __init__(
        self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures, self.cooldown, self.clock = failures, cooldown, clock
        self._states: dict[str, _State] = {}

    def wait_for(self, endpoint: str) -> float:
        """Seconds until ``endpoint`` may be tried (0: now)."""
        state = self._states.get(endpoint)
        if state is None:
            return 0.0
        return max(0.0, state.open_until - self.clock())

    def succeeded(self, endpoint: str) -> None:
        self._states.pop(endpoint, None)

    def failed(self, endpoint: str) -> None:
        state = self._states.setdefault(endpoint, _State())
        state.failures += 1
        if state.failures >= self.failures:
            state.open_until = self.clock() + self.cooldown

    def is_open(self, endpoint: str) -> bool:
        return self.wait_for(endpoint) > 0
