"""A thread-safe sliding-window rate limiter shared by every caller of one client.

Refiner allows 4,000 requests per minute per key (refiner-api.md §7.2). With
R = `requests_per_minute / 60`, the contract is: at most floor(R) requests start in any window
of 1 second (half-open, wherever it is placed). For R < 1 the window is 1 / R seconds and
holds one request.

Each window is widened by `margin_seconds` (50 ms unless set), and its budget goes out in
`spread` slices (10 unless set): at most ceil(floor(R) / spread) requests start in any
window / spread. The server counts arrivals, not starts, and arrivals trail starts by a little
(a thread waking up, the request going out). Without the margin a late request of one window
and the early ones of the next can meet in one second at the server; without the slices a
whole window's budget leaves at once and reaches the server spread over as long as it takes
to serve it. With both, requests leave in small groups about a tenth of a second apart.
Throughput when the limiter is the bottleneck: floor(R) per 1 + margin seconds.
`margin_seconds=0, spread=1` gives the exact bound on start times with whole-window bursts.

A start is the clock reading at which the limiter lets a request go, never a time planned in
advance: a caller that wakes late starts late, and the windows count it when it really went.
(Planned starts let a late caller meet the next window's punctual ones: 107 requests in one
second at the server at R = 100, against 100 with starts taken as they happen.)
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
    old. Callers take turns on one lock: the caller holding it sleeps until the windows allow
    a start, reads the clock again and records that reading as its start. The others wait for
    the lock, so no two callers wake at the same moment and race for the same slot.
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
        # Each start is a one-item list, so `sent()` can move it later in place.
        self._starts: deque[list[float]] = deque(maxlen=self.max_requests)
        self._slice: deque[list[float]] = deque(maxlen=self.slice_requests)
        self._last = threading.local()

    @property
    def requests_per_minute(self) -> float:
        """The configured rate."""
        return self.rate_per_second * 60.0

    def acquire(self) -> float:
        """Wait until the windows allow a start now, and record it.

        Returns the seconds waited (0.0 when the request may start at once).
        """
        began = self._clock()
        with self._lock:
            while True:
                now = self._clock()
                ready = now
                if len(self._starts) == self.max_requests:
                    ready = max(ready, self._starts[0][0] + self.window_seconds)
                if len(self._slice) == self.slice_requests:
                    ready = max(ready, self._slice[0][0] + self.slice_seconds)
                if ready <= now:
                    start = [now]
                    self._starts.append(start)
                    self._slice.append(start)
                    self._last.start = start
                    return now - began
                self._sleep(ready - now)

    def sent(self) -> None:
        """The request this thread started last has now gone out: if it went out late (a
        thread switch or a garbage collection between its start and its write), the windows
        count it from now. Needs no lock: only this thread moves its start, only later."""
        start = getattr(self._last, "start", None)
        if start is not None:
            start[0] = max(start[0], self._clock())

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self.requests_per_minute:g}, "
            f"max_requests={self.max_requests}, window_seconds={self.window_seconds:g}, "
            f"slice_requests={self.slice_requests})"
        )
