"""A thread-safe token bucket shared by every caller of one client.

Refiner allows 4,000 requests per minute per key (refiner-api.md §7.2). The bucket refills
continuously at `requests_per_minute / 60` tokens per second and holds at most `burst` tokens,
so over any window of T seconds at most `burst + rate * T` requests leave this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Default burst: one request. Requests are paced evenly at the configured rate, so no window
# of one second sees more than the rate (a larger burst would add itself on top of it).
_DEFAULT_BURST = 1


class TokenBucket:
    """Blocks callers of `acquire()` so requests stay under a fixed rate.

    Waiting happens outside the lock: each caller reserves its slot under the lock (tokens
    may go negative, which queues callers in arrival order) and then sleeps until that slot.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute <= 0:
            raise ValueError(f"requests_per_minute must be positive, got {requests_per_minute}")
        self.rate_per_second = requests_per_minute / 60.0
        self.burst = _DEFAULT_BURST if burst is None else burst
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = clock()

    @property
    def requests_per_minute(self) -> float:
        """The configured rate."""
        return self.rate_per_second * 60.0

    def acquire(self) -> float:
        """Take one token, sleeping until it is available. Returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._updated) * self.rate_per_second
            )
            self._updated = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate_per_second if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"TokenBucket(requests_per_minute={self.requests_per_minute:g}, burst={self.burst})"
