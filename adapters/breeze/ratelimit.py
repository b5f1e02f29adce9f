"""Token bucket limiting Breeze calls (documented cap: 100 calls per minute)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``capacity`` calls per ``period_seconds``, refilled continuously.

    ``acquire`` blocks (through the injected ``sleep``) until a token is free, so tests
    pass a fake monotonic clock and sleep and run instantly.
    """

    def __init__(self, capacity: int = 100, period_seconds: float = 60.0, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if capacity <= 0 or period_seconds <= 0:
            raise ValueError("TokenBucket needs a positive capacity and period")
        self.capacity = capacity
        self.rate = capacity / period_seconds
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(capacity)
        self._last = monotonic()
        self.waited_seconds = 0.0

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self) -> bool:
        """Take a token if one is free; never waits."""
        self._refill()
        if self._tokens >= 1.0 - 1e-9:   # tolerance: float refills can stop a hair short of 1
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def acquire(self) -> None:
        """Take a token, sleeping until one is free."""
        while not self.try_acquire():
            wait = (1.0 - self._tokens) / self.rate
            self.waited_seconds += wait
            self._sleep(wait)
