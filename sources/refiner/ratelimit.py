"""A thread-safe sliding-window rate limiter shared by every caller of one client.

Refiner allows 4,000 requests per minute per key (refiner-api.md §7.2). With
R = `requests_per_minute / 60`, the contract is: at most floor(R) requests start in any window
of 1 second (half-open, wherever it is placed). Bursts up to floor(R) requests start at once;
a request waits only until the floor(R)-th request before it is one window old. For R < 1
the window is 1 / R seconds and holds one request.

Each window is widened by `margin_seconds` (50 ms unless set). A burst packs floor(R)
requests into a few milliseconds, while the time from leaving this process to reaching the
server varies by milliseconds to tens of milliseconds (thread wake-up, connection setup),
so without the margin the server can count the first requests of the next burst in the
same second as the last ones of this burst: at R = 20 the emulator saw up to 25 requests in
one second. The margin costs
throughput only when the limiter is the bottleneck: floor(R) requests per 1 + margin seconds.
`margin_seconds=0` gives the exact bound on start times.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_MARGIN_SECONDS = 0.05


class RateLimiter:
    """Blocks callers of `acquire()` so at most `max_requests` start per `window_seconds`.

    The start times of the last `max_requests` requests are kept; a new request may start once
    the oldest of them is `window_seconds` old. Each caller reserves its start time under the
    lock and sleeps outside it, so waiting callers start in arrival order and the lock is never
    held while sleeping. A request's start is the time reserved for it; `acquire()` returns no
    earlier than that.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not math.isfinite(requests_per_minute) or requests_per_minute <= 0:
            raise ValueError(
                f"requests_per_minute must be positive and finite, got {requests_per_minute}"
            )
        if not math.isfinite(margin_seconds) or margin_seconds < 0:
            raise ValueError(f"margin_seconds must be 0 or more, got {margin_seconds}")
        self.rate_per_second = requests_per_minute / 60.0
        if self.rate_per_second >= 1.0:
            self.max_requests = math.floor(self.rate_per_second)
            self.window_seconds = 1.0 + margin_seconds
        else:
            self.max_requests = 1
            self.window_seconds = 1.0 / self.rate_per_second + margin_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque(maxlen=self.max_requests)

    @property
    def requests_per_minute(self) -> float:
        """The configured rate."""
        return self.rate_per_second * 60.0

    def acquire(self) -> float:
        """Reserve the earliest start the window allows and sleep until it.

        Returns the seconds waited (0.0 when the request may start at once).
        """
        with self._lock:
            now = self._clock()
            start = now
            if len(self._starts) == self.max_requests:
                start = max(now, self._starts[0] + self.window_seconds)
            self._starts.append(start)
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self.requests_per_minute:g}, "
            f"max_requests={self.max_requests}, window_seconds={self.window_seconds:g})"
        )
