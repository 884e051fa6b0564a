"""Per-key rate limits (API tokens, Kafka system clients) and failure limits (client
addresses at sign-in) on the ``limits`` package."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.strategies import RateLimiter as RateLimiterStrategy


class SlidingWindow:
    """``amount`` hits per key in a sliding window of ``seconds``, counted in memory; the
    storage drops a key once its windows expire, so many short-lived keys cannot grow it."""

    def __init__(
        self,
        amount: int,
        seconds: int,
        strategy: type[RateLimiterStrategy] = SlidingWindowCounterRateLimiter,
    ) -> None:
        self.item = RateLimitItemPerSecond(amount, seconds)
        self.storage = MemoryStorage()
        self.limiter = strategy(self.storage)

    def wait(self, key: str, item: RateLimitItemPerSecond | None = None) -> float:
        """Seconds until ``key`` has a hit again (under ``item``: the window's own if None)."""
        reset_at = self.limiter.get_window_stats(item or self.item, key).reset_time
        return max(0.0, reset_at - time.time())


class RateLimiter(SlidingWindow):
    """Per-key rate limits: ``burst`` hits are allowed per ``burst / per_second`` seconds (at
    least one second), so the long-run rate is ``per_second`` as with the token bucket this
    replaces. A key may be given ``factor`` times both (a system client serving many)."""

    def __init__(self, per_second: float, burst: int) -> None:
        super().__init__(burst, max(1, math.ceil(burst / per_second)) if per_second > 0 else 3600)
        self._scaled: dict[float, RateLimitItemPerSecond] = {1.0: self.item}

    def _item(self, factor: float) -> RateLimitItemPerSecond:
        if factor not in self._scaled:
            amount = max(1, round(self.item.amount * factor))
            self._scaled[factor] = RateLimitItemPerSecond(amount, self.item.multiples)
        return self._scaled[factor]

    def take(self, key: object, factor: float = 1.0) -> float | None:
        """Count one hit for ``key``; return None if allowed, else seconds until one is."""
        item = self._item(factor)
        if self.limiter.hit(item, str(key)):
            return None
        return self.wait(str(key), item)


class FailureLimit(SlidingWindow):
    """Failed attempts per key (a client address) in a sliding window; a key past the limit
    is refused before it is checked, until the window frees (登录失败处理: unlimited guesses
    at sign-in are what a security review forbids, whatever a token's entropy).

    Counted exactly (a moving window: each failure is kept until it leaves the window), not
    by the counters' estimate, which lets a locked key try again as soon as a counting window
    turns over, up to twice the allowed failures a window."""

    def __init__(self, amount: int, seconds: int) -> None:
        super().__init__(amount, seconds, MovingWindowRateLimiter)

    def locked_for(self, key: object) -> float | None:
        """Seconds until ``key`` may try again; None if it may now."""
        if self.limiter.test(self.item, str(key)):
            return None
        return self.wait(str(key))

    def fail(self, key: object) -> None:
        """Count a failed attempt of ``key``."""
        self.limiter.hit(self.item, str(key))
