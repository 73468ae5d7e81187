"""Date windows and concurrent page fetching for the dlt source.

A long response range is cut into date windows of similar size, by Refiner's own item counts,
that are fetched at the same time; each window is an ordinary cursor-paged walk.
`concurrent_pages` runs the walks on a small thread pool and hands their pages to the caller
through a bounded queue, so memory holds at most a few pages whatever the size of the range.
The client's shared rate limiter, not this module, bounds the request rate.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

T = TypeVar("T")

Window = tuple[datetime, datetime]
"""A half-open range [start, end) of `last_data_reception_at`."""

MIN_WINDOW: Final = timedelta(days=1)
"""Ranges up to this long are one window, read without counting: an incremental run makes a
single request. Longer ranges are cut at UTC midnights, so no window is shorter than a day
(unless the range ends inside one) and the same range always gives the same requests."""
MIN_PAGES_PER_WINDOW: Final = 2
"""A window is split only into halves of at least this many pages of items on average (it
holds more than twice as many): each window costs a count request and a partly filled page."""
PAGES_IN_FLIGHT_PER_WORKER: Final = 2

_DONE = object()


@dataclass(frozen=True, slots=True)
class _Counted:
    start: datetime
    end: datetime
    items: int | None
    """Items in [start, end); None when Refiner gave no count."""
    probed: bool
    """True when `items` was counted by a request, False when derived from the parent's."""


def balanced_windows(
    start: datetime,
    end: datetime,
    total: int | None,
    count: Callable[[Window], int | None],
    *,
    page_length: int,
    max_workers: int,
) -> list[Window]:
    """Cut [start, end), which holds `total` items, into windows of similar counts, newest first.

    `count(window)` is one small request answering how many items a window holds (Refiner's
    `items_count`), or None when the answer has no count. The range is bisected at UTC
    midnights while a window holds more than its share: `total` over `max_workers`, and at
    least twice MIN_PAGES_PER_WINDOW pages. Sibling windows are counted concurrently
    (`max_workers`); only the newer half of a split is counted and the older half is the
    difference. With `total` None, or a range of at most MIN_WINDOW, it is one window.

    The share aims at one window per concurrent walk, not more: every window costs a count
    request and a partly filled last page, and under a request budget those are pages not
    read.

    Windows cover [start, end) without gaps or overlaps, except that windows counted empty by
    their own request are left out. The newest window is always kept: it is read open-ended and
    catches items that arrive during the load. A derived count never drops a window, so data
    that moves between two counts can change the balance but never which items are read.
    """
    if total is None or end - start <= MIN_WINDOW:
        return [(start, end)]
    share = max(2 * page_length * MIN_PAGES_PER_WINDOW, -(-total // max_workers))
    pending = [_Counted(start, end, total, probed=True)]
    final: list[_Counted] = []
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="refiner-count") as pool:
        while pending:
            splits: list[tuple[_Counted, datetime]] = []
            for window in pending:
                middle = _midnight_inside(window.start, window.end)
                if window.items is None or window.items <= share or middle is None:
                    final.append(window)
                else:
                    splits.append((window, middle))
            newer = pool.map(lambda split: count((split[1], split[0].end)), splits)
            pending = []
            for (window, middle), items in zip(splits, newer, strict=True):
                older = None if items is None else max(0, (window.items or 0) - items)
                pending.append(_Counted(middle, window.end, items, probed=True))
                pending.append(_Counted(window.start, middle, older, probed=False))
    kept = [w for w in final if w.end == end or not (w.probed and w.items == 0)]
    return [(w.start, w.end) for w in sorted(kept, key=lambda w: w.start, reverse=True)]


def _midnight_inside(start: datetime, end: datetime) -> datetime | None:
    """The UTC midnight nearest the middle of (start, end), strictly inside it, or None."""
    middle = start + (end - start) / 2
    midnight = middle.replace(hour=0, minute=0, second=0, microsecond=0)
    if middle - midnight >= timedelta(hours=12):
        midnight += timedelta(days=1)
    for candidate in (midnight, midnight + timedelta(days=1), midnight - timedelta(days=1)):
        if start < candidate < end:
            return candidate
    return None


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
