"""The token bucket, on a fake clock and on real threads."""

from __future__ import annotations

import threading
import time

import pytest

from sources.refiner.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, burst=3, clock=clock, sleep=clock.sleep)  # 10/s
    waits = [bucket.acquire() for _ in range(13)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(w == pytest.approx(0.1) for w in waits[3:])
    assert clock.now == pytest.approx(1.0)


def test_refills_while_idle_but_never_above_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, burst=2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    clock.now += 60.0
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_default_burst_paces_evenly_so_no_second_exceeds_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(3600, clock=clock, sleep=clock.sleep)  # 60/s
    assert bucket.burst == 1
    stamps = []
    for _ in range(300):
        bucket.acquire()
        stamps.append(clock.now)
    busiest = max(sum(1 for t in stamps if start <= t < start + 1.0 - 1e-9) for start in stamps)
    assert busiest <= 60, busiest
    assert "3600" in repr(bucket)


@pytest.mark.parametrize(
    "kwargs", [{"requests_per_minute": 0}, {"requests_per_minute": 60, "burst": 0}]
)
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TokenBucket(**kwargs)  # type: ignore[arg-type]


def test_threads_share_the_rate() -> None:
    bucket = TokenBucket(6000, burst=5)  # 100/s
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            bucket.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 200
    # 200 requests, 5 free: at least 195 / 100 s must pass.
    assert stamps[-1] - stamps[0] >= 1.95 * 0.97
    for i, start in enumerate(stamps):
        window = [s for s in stamps[i:] if s - start <= 0.5]
        assert len(window) <= 5 + 100 * 0.5 + 2
