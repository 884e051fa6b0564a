"""Per-key rate limits (API tokens, Kafka system clients) on the ``limits`` package."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter


class RateLimiter:
    """Per-key rate limits on ``limits``' sliding window counter in memory.

    ``burst`` hits are allowed per ``burst / per_second`` seconds (at least one second), so
    the long-run rate is ``per_second`` as with the token bucket this replaces. The memory
    storage drops a key once its windows expire, so many short-lived tokens cannot grow it.
    """

    def __init__(self, per_second: float, burst: int) -> None:
        window = max(1, math.ceil(burst / per_second)) if per_second > 0 else 3600
        self.item = RateLimitItemPerSecond(burst, window)
        self.storage = MemoryStorage()
        self._limiter = SlidingWindowCounterRateLimiter(self.storage)

    def take(self, key: object) -> float | None:
        """Count one hit for ``key``; return None if allowed, else seconds until one is."""
        if self._limiter.hit(self.item, str(key)):
            return None
        reset_at = self._limiter.get_window_stats(self.item, str(key)).reset_time
        return max(0.0, reset_at - time.time())


class FailureLimit:
    """Failed attempts per key (a client address) in a sliding window; a key past the limit
    is refused before it is checked, until the window frees (登录失败处理: unlimited guesses
    at sign-in are what a security review forbids, whatever a token's entropy)."""

    def __init__(self, failures: int, window_seconds: int) -> None:
        self.item = RateLimitItemPerSecond(failures, window_seconds)
        self.storage = MemoryStorage()
        self._limiter = SlidingWindowCounterRateLimiter(self.storage)

    def locked_for(self, key: object) -> float | None:
        """Seconds until ``key`` may try again; None if it may now."""
        if self._limiter.test(self.item, str(key)):
            return None
        reset_at = self._limiter.get_window_stats(self.item, str(key)).reset_time
        return max(0.0, reset_at - time.time())

    def fail(self, key: object) -> None:
        """Count a failed attempt of ``key``."""
        self._limiter.hit(self.item, str(key))
