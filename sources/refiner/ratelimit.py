"""A thread-safe sliding-window rate limiter shared by every caller of one client.

Refiner allows 4,000 requests per minute per key (refiner-api.md §7.2). With
R = `requests_per_minute / 60`, the contract is: at most floor(R) requests start in any window
of 1 second (half-open, wherever it is placed). For R < 1 the window is 1 / R seconds and
holds one request.

Each window is widened by `margin_seconds` (50 ms unless set), and its budget goes out in
`spread` slices (10 unless set): at most ceil(floor(R) / spread) requests start in any
window / spread. The server counts arrivals, not starts, and arrivals jitter by milliseconds
to tens of milliseconds (thread wake-up, connection setup, the server's own queue). Without
the margin a late request of one window and the early ones of the next can meet in one
second at the server; without the slices a whole window's budget leaves at once and reaches
the server spread over as long as it takes to serve it, which at R = 100 let the emulator
count 107 in one second. With both, requests leave in small groups about a tenth of a
second apart. Throughput when the limiter is the bottleneck: floor(R) per 1 + margin seconds.
`margin_seconds=0, spread=1` gives the exact bound on start times with whole-window bursts.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_MARGIN_SECONDS = 0.05
DEFAULT_SPREAD = 10


class RateLimiter:
    """Blocks callers of `acquire()` so at most `max_requests` start per `window_seconds`,
    and at most `slice_requests` per `window_seconds / spread`.

    The start times of the last `max_requests` requests are kept; a new request may start once
    the oldest of them is `window_seconds` old and the `slice_requests`-th before it is a slice
    old. Each caller reserves its start time under the lock and sleeps outside it, so waiting
    callers start in arrival order and the lock is never held while sleeping. A request's start
    is the time reserved for it; `acquire()` returns no earlier than that.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
        spread: int = DEFAULT_SPREAD,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not math.isfinite(requests_per_minute) or requests_per_minute <= 0:
            raise ValueError(
                f"requests_per_minute must be positive and finite, got {requests_per_minute}"
            )
        if not math.isfinite(margin_seconds) or margin_seconds < 0:
            raise ValueError(f"margin_seconds must be 0 or more, got {margin_seconds}")
        if spread < 1:
            raise ValueError(f"spread must be 1 or more, got {spread}")
        self.rate_per_second = requests_per_minute / 60.0
        if self.rate_per_second >= 1.0:
            self.max_requests = math.floor(self.rate_per_second)
            self.window_seconds = 1.0 + margin_seconds
        else:
            self.max_requests = 1
            self.window_seconds = 1.0 / self.rate_per_second + margin_seconds
        self.slice_requests = math.ceil(self.max_requests / spread)
        self.slice_seconds = self.window_seconds / spread
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque(maxlen=self.max_requests)
        self._slice: deque[float] = deque(maxlen=self.slice_requests)

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
                start = max(start, self._starts[0] + self.window_seconds)
            if len(self._slice) == self.slice_requests:
                start = max(start, self._slice[0] + self.slice_seconds)
            self._starts.append(start)
            self._slice.append(start)
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self.requests_per_minute:g}, "
            f"max_requests={self.max_requests}, window_seconds={self.window_seconds:g}, "
            f"slice_requests={self.slice_requests})"
        )
