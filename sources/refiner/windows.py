"""Date windows and concurrent page fetching for the dlt source.

A long response range is cut into date windows that are fetched at the same time; each
window is an ordinary cursor-paged walk. `concurrent_pages` runs the walks on a small thread
pool and hands their pages to the caller through a bounded queue, so memory holds at most a
few pages whatever the size of the range. The client's shared rate limiter, not this module,
bounds the request rate.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Final, TypeVar

T = TypeVar("T")

Window = tuple[datetime, datetime]
"""A half-open range [start, end) of `last_data_reception_at`."""

MIN_WINDOW: Final = timedelta(days=1)
"""Ranges shorter than this are one window: an incremental run makes a single request."""
WINDOWS_PER_WORKER: Final = 4
"""More windows than workers, so busy and quiet periods even out across the pool."""
PAGES_IN_FLIGHT_PER_WORKER: Final = 2

_DONE = object()


def split_range(start: datetime, end: datetime, *, max_workers: int) -> list[Window]:
    """Cut [start, end) into at most `max_workers * WINDOWS_PER_WORKER` equal windows.

    The newest window comes first, since Refiner lists newest first and recent data is the
    densest. Each window spans at least MIN_WINDOW; an empty or inverted range gives one
    window [start, end).
    """
    span = end - start
    count = max(1, min(max_workers * WINDOWS_PER_WORKER, int(span / MIN_WINDOW)))
    step = span / count
    bounds = [start + step * index for index in range(count)] + [end]
    return [(bounds[index], bounds[index + 1]) for index in reversed(range(count))]


def split_days(start: datetime, end: datetime, days: int) -> list[Window]:
    """Cut [start, end) into consecutive windows of `days` days, oldest first (backfills)."""
    size = timedelta(days=max(1, days))
    windows: list[Window] = []
    cursor = start
    while cursor < end:
        windows.append((cursor, min(cursor + size, end)))
        cursor += size
    return windows


def concurrent_pages(
    walks: Sequence[Callable[[], Iterator[T]]], *, max_workers: int
) -> Iterator[T]:
    """Yield the pages of every walk as they arrive, running up to `max_workers` walks at once.

    Pages of one walk keep their order; pages of different walks interleave. The first error
    of any walk is raised here after the other walks stop. Closing the iterator early stops
    the walks at their next page.
    """
    if len(walks) == 1 or max_workers <= 1:
        for walk in walks:
            yield from walk()
        return
    workers = min(max_workers, len(walks))
    pages: queue.Queue[object] = queue.Queue(maxsize=workers * PAGES_IN_FLIGHT_PER_WORKER)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(walk: Callable[[], Iterator[T]]) -> None:
        try:
            for page in walk():
                if not offer(page):
                    return
        except BaseException as error:
            offer(_Failure(error))
        finally:
            offer(_DONE)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refiner-window") as pool:
        for walk in walks:
            pool.submit(run, walk)
        try:
            remaining = len(walks)
            while remaining:
                item = pages.get()
                if item is _DONE:
                    remaining -= 1
                elif isinstance(item, _Failure):
                    raise item.error
                else:
                    yield item  # type: ignore[misc]
        finally:
            stop.set()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
