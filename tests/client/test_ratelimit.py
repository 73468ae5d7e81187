"""The sliding-window rate limiter, on fake clocks and on real threads.

Tests of the exact bound pass `margin_seconds=0`; the default margin only widens the window.
A start is the limiter's last clock reading in `acquire()` (it records that reading), never
`acquire()`'s return value. Fake sleeps move fake clocks on. Fake times are multiples of
1/1024 s, so with no margin every sum is exact in floating point.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from sources.refiner.ratelimit import DEFAULT_MARGIN_SECONDS, RateLimiter

TICK = 1 / 1024


class FakeClock:
    """One caller at a time: `sleep` moves the clock forward."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SharedFakeClock:
    """A clock for many threads: every reading moves time on by one step from `steps`, and a
    sleep moves it on by the time slept (the limiter lets one caller sleep at a time)."""

    def __init__(self, steps: Callable[[], float]) -> None:
        self._steps = steps
        self._now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._now += self._steps()
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class StartRecorder:
    """Wraps a clock and a sleep for the limiter. `start()` is this thread's last clock
    reading, the one its last `acquire()` recorded as the start; `waited()` tells whether the
    thread slept since it last asked."""

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep
        self._local = threading.local()

    def clock(self) -> float:
        self._local.read = self._clock()
        return float(self._local.read)

    def sleep(self, seconds: float) -> None:
        self._local.slept = True
        self._sleep(seconds)

    def start(self) -> float:
        return float(self._local.read)

    def waited(self) -> bool:
        slept = bool(getattr(self._local, "slept", False))
        self._local.slept = False
        return slept


def bursty_steps(rng: random.Random) -> Callable[[], float]:
    """Gaps between clock readings: bursts of ~100 readings a fraction of a tick apart, then
    a lull of 1-3 s."""
    lock = threading.Lock()

    def step() -> float:
        with lock:
            if rng.random() < 0.01:
                return rng.randint(1024, 3072) * TICK
            return rng.choice([0, 0, 1]) * TICK

    return step


def busiest_window(starts: list[float], window: float = 1.0) -> int:
    """The most start times inside any half-open window [t, t + window)."""
    starts = sorted(starts)
    best, first = 0, 0
    for last, at in enumerate(starts):
        while at >= starts[first] + window:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_first_floor_r_requests_start_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3000, margin_seconds=0, spread=1, clock=clock, sleep=clock.sleep)  # 50/s
    starts = []
    for _ in range(50):
        limiter.acquire()
        starts.append(clock.now)
    assert starts == [0.0] * 50


def test_request_floor_r_plus_one_waits_until_one_second_after_the_first() -> None:
    clock = FakeClock()
    # 66.7/s: 66 per second.
    limiter = RateLimiter(4000, margin_seconds=0, spread=1, clock=clock, sleep=clock.sleep)
    clock.now = 10.0
    assert limiter.acquire() == 0.0
    clock.now = 10.25
    assert [limiter.acquire() for _ in range(65)] == [0.0] * 65
    assert limiter.acquire() == 0.75
    assert clock.now == 11.0
    # The window slides: the 68th may start once the 2nd (at 10.25) is 1 s old.
    assert limiter.acquire() == 0.25
    assert clock.now == 11.25


def test_fifty_four_requests_at_sixty_per_second_all_start_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3600, margin_seconds=0, spread=1, clock=clock, sleep=clock.sleep)
    assert sum(limiter.acquire() for _ in range(54)) == 0.0
    assert clock.now == 0.0


def test_an_idle_limiter_allows_a_full_burst_again() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, margin_seconds=0, spread=1, clock=clock, sleep=clock.sleep)  # 10/s
    waits = [limiter.acquire() for _ in range(25)]
    assert waits == [0.0] * 10 + [1.0] + [0.0] * 9 + [1.0] + [0.0] * 4
    clock.now += 60.0
    assert [limiter.acquire() for _ in range(11)] == [0.0] * 10 + [1.0]


def test_simulated_callers_never_put_more_than_floor_r_in_a_second() -> None:
    """5,000 callers at 30/s arrive in bursts and lulls, one after another. One that waits
    starts exactly when the window allows, no later (whole-window bursts)."""
    steps = bursty_steps(random.Random(20240611))
    clock = FakeClock()
    recorder = StartRecorder(clock, clock.sleep)
    limiter = RateLimiter(
        1800, margin_seconds=0, spread=1, clock=recorder.clock, sleep=recorder.sleep
    )
    arrivals: list[float] = []
    starts: list[float] = []
    for _ in range(5000):
        clock.now += steps()
        arrivals.append(clock.now)
        limiter.acquire()
        starts.append(recorder.start())
    assert starts == sorted(starts)
    assert busiest_window(starts) == 30
    waited = 0
    for i, (arrival, start) in enumerate(zip(arrivals, starts, strict=True)):
        assert start >= arrival
        if start > arrival:
            waited += 1
            assert start == starts[i - 30] + 1.0
    assert waited > 1000, "the bursts never filled a window"


@pytest.mark.parametrize("margin_seconds", [0.0, DEFAULT_MARGIN_SECONDS])
@pytest.mark.parametrize("requests_per_minute", [60, 90, 3000, 3600, 4000])
def test_threads_never_put_more_than_floor_r_in_a_second(
    requests_per_minute: float, margin_seconds: float
) -> None:
    """Eight threads, 4,000 acquires, one shared clock that moves on at every reading."""
    clock = SharedFakeClock(bursty_steps(random.Random(requests_per_minute)))
    recorder = StartRecorder(clock, clock.sleep)
    limiter = RateLimiter(
        requests_per_minute,
        margin_seconds=margin_seconds,
        clock=recorder.clock,
        sleep=recorder.sleep,
    )
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(500):
            limiter.acquire()
            start = recorder.start()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starts) == 4000
    assert busiest_window(starts) == requests_per_minute // 60


@pytest.mark.parametrize(("requests_per_minute", "spacing"), [(30, 2.0), (15, 4.0), (7.5, 8.0)])
def test_below_one_per_second_requests_are_spaced_one_over_r_apart(
    requests_per_minute: float, spacing: float
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute, margin_seconds=0, clock=clock, sleep=clock.sleep)
    assert (limiter.max_requests, limiter.window_seconds) == (1, spacing)
    starts = []
    for _ in range(5):
        limiter.acquire()
        starts.append(clock.now)
    assert starts == [k * spacing for k in range(5)]
    clock.now += spacing / 2
    assert limiter.acquire() == spacing / 2
    clock.now += 3 * spacing
    assert limiter.acquire() == 0.0


def test_a_request_that_went_out_late_is_counted_from_then() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, margin_seconds=0, spread=1, clock=clock, sleep=clock.sleep)  # 10/s
    limiter.acquire()
    clock.now = 0.25
    limiter.sent()
    clock.now = 0.5
    assert [limiter.acquire() for _ in range(9)] == [0.0] * 9
    limiter.sent()
    # The 11th waits until the first, which went out at 0.25, is one window old.
    assert limiter.acquire() == 0.75
    assert clock.now == 1.25


def test_the_default_margin_widens_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, spread=1, clock=clock, sleep=clock.sleep)  # 10/s
    assert limiter.window_seconds == 1.0 + DEFAULT_MARGIN_SECONDS
    starts = []
    for _ in range(31):
        limiter.acquire()
        starts.append(clock.now)
    assert starts[:10] == [0.0] * 10
    assert starts[10::10] == pytest.approx([1.05, 2.1, 3.15])
    assert busiest_window(starts, 1.05 - 1e-9) == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"requests_per_minute": 0},
        {"requests_per_minute": -60},
        {"requests_per_minute": float("nan")},
        {"requests_per_minute": float("inf")},
        {"requests_per_minute": 60, "margin_seconds": -0.01},
        {"requests_per_minute": 60, "margin_seconds": float("nan")},
        {"requests_per_minute": 60, "spread": 0},
    ],
)
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


def test_reports_its_configuration() -> None:
    limiter = RateLimiter(4000)
    assert limiter.requests_per_minute == pytest.approx(4000)
    assert (limiter.max_requests, limiter.window_seconds) == (66, 1.05)
    assert (limiter.slice_requests, limiter.slice_seconds) == (7, pytest.approx(0.105))
    assert repr(limiter) == (
        "RateLimiter(requests_per_minute=4000, max_requests=66, window_seconds=1.05, "
        "slice_requests=7)"
    )


def test_a_window_budget_leaves_in_slices() -> None:
    """By default a second's budget leaves in ten groups a tenth of a window apart, so the
    server never receives a whole second's requests at once."""
    clock = FakeClock()
    limiter = RateLimiter(6000, margin_seconds=0, clock=clock, sleep=clock.sleep)  # 100/s
    starts = []
    for _ in range(250):
        limiter.acquire()
        starts.append(clock.now)
    assert starts[:10] == [0.0] * 10
    assert starts[10:20] == [pytest.approx(0.1)] * 10
    assert starts[100] == pytest.approx(1.0)
    assert busiest_window(starts) == 100
    assert busiest_window(starts, 0.1 - 1e-9) == 10


def test_real_threads_burst_then_wait_for_the_window() -> None:
    """On the real clock: 8 threads x 15 acquires at 100/s. The first 100 start at once, the
    other 20 once the window has slid by 1 s."""
    recorder = StartRecorder(time.monotonic, time.sleep)
    limiter = RateLimiter(
        6000, margin_seconds=0, spread=1, clock=recorder.clock, sleep=recorder.sleep
    )
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(15):
            limiter.acquire()
            start = recorder.start()
            with lock:
                starts.append(start)

    began = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    starts.sort()
    assert len(starts) == 120
    assert busiest_window(starts) == 100
    # The 101st starts once the first is a window old, plus the time its thread takes to wake.
    assert starts[0] + 1.0 <= starts[100] < starts[0] + 1.25
    assert 1.0 <= elapsed < 1.5
