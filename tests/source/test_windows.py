"""`balanced_windows`: windows cut at UTC midnights by counted items, against a known dataset."""

from __future__ import annotations

import bisect
import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from sources.refiner.windows import (
    MIN_PAGES_PER_WINDOW,
    Window,
    balanced_windows,
)

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2026, 11, 27, 9, 30, 12, 345678, tzinfo=UTC)
PAGE = 1000
HALVINGS = ((END - START).days).bit_length()
"""Halvings of START..END down to one day."""


class Items:
    """Sorted item timestamps standing in for Refiner; counts requests like Refiner would."""

    def __init__(self, stamps: list[datetime]) -> None:
        self.stamps = sorted(stamps)
        self.requests: list[Window] = []
        self._lock = threading.Lock()

    def count(self, window: Window) -> int:
        with self._lock:
            self.requests.append(window)
        return bisect.bisect_left(self.stamps, window[1]) - bisect.bisect_left(
            self.stamps, window[0]
        )


def recent(items: int, days: int) -> list[datetime]:
    """`items` timestamps spread evenly over the `days` days before END."""
    span = timedelta(days=days) / items
    return [END - span * (index + 1) for index in range(items)]


def plan(items: Items, *, max_workers: int = 4) -> list[Window]:
    total = items.count((START, END))
    items.requests.clear()
    return balanced_windows(
        START, END, total, items.count, page_length=PAGE, max_workers=max_workers
    )


def assert_tiles(windows: list[Window], items: Items) -> None:
    """Newest first, no overlap, and every gap between windows holds no items."""
    assert windows[0][1] == END
    assert windows[-1][0] >= START
    for newer, older in itertools.pairwise(windows):
        assert older[1] <= newer[0]
        assert items.count((older[1], newer[0])) == 0, f"items lost between {older} and {newer}"
    assert items.count((START, windows[-1][0])) == 0
    for window in windows:
        for bound in window:
            if bound not in (START, END):
                assert bound.time() == datetime.min.time(), f"{bound} is not a UTC midnight"


def test_recent_data_is_split_into_balanced_windows() -> None:
    items = Items(recent(100_000, days=90))
    windows = plan(items)

    assert_tiles(windows, items)
    counts = [items.count(window) for window in windows]
    assert sum(counts) == 100_000
    share = 100_000 // 4
    assert max(counts) <= share + 1_200, f"unbalanced windows: {counts}"
    assert len([count for count in counts if count]) <= 2 * 4
    # An empty window costs one request. Halving the empty years before the data leaves at
    # most one (derived, so still read) empty older half per halving.
    assert counts.count(0) <= HALVINGS, f"{counts.count(0)} empty windows"


def test_counting_stays_cheap() -> None:
    items = Items(recent(100_000, days=90))
    windows = plan(items)
    # one count per split, and a split makes one window more
    assert len(items.requests) == len(windows) - 1


def test_small_ranges_are_not_split_below_two_pages() -> None:
    items = Items(recent(3_000, days=30))
    windows = plan(items)

    assert_tiles(windows, items)
    full = [window for window in windows if items.count(window)]
    assert len(full) <= 3_000 // (PAGE * MIN_PAGES_PER_WINDOW) + 1
    assert len(windows) - len(full) <= HALVINGS


def test_no_count_or_short_range_gives_one_window() -> None:
    items = Items(recent(50_000, days=90))
    assert balanced_windows(START, END, None, items.count, page_length=PAGE, max_workers=4) == [
        (START, END)
    ]
    short = END - timedelta(hours=20)
    assert balanced_windows(short, END, 50_000, items.count, page_length=PAGE, max_workers=4) == [
        (short, END)
    ]
    assert items.requests == []


def test_a_range_of_a_few_pages_is_not_split() -> None:
    """Halves of about one page each would cost a count request and a partly filled page
    more than reading the range in one walk (an incremental run over just over a day)."""
    items = Items(recent(2 * PAGE * MIN_PAGES_PER_WINDOW, days=2))
    assert plan(items) == [(START, END)]
    assert items.requests == []


def test_an_empty_range_keeps_its_newest_window() -> None:
    items = Items([])
    assert plan(items) == [(START, END)]


def test_a_derived_empty_window_is_still_read() -> None:
    """Only a window counted empty by its own request is skipped: counts derived from a total
    that changed between two requests must not drop data."""
    items = Items([*recent(40_000, days=60), START + timedelta(days=3)])
    total = items.count((START, END))
    arrived = [END - timedelta(seconds=1)]

    def count_with_arrival(window: Window) -> int:
        if not arrived:
            return items.count(window)
        items.stamps = sorted(items.stamps + arrived)
        arrived.clear()
        return items.count(window)

    windows = balanced_windows(
        START, END, total, count_with_arrival, page_length=PAGE, max_workers=4
    )
    assert any(start <= START + timedelta(days=3) < end for start, end in windows)
    assert_tiles(windows, items)


@pytest.mark.parametrize("max_workers", [1, 2, 8])
def test_share_follows_the_workers(max_workers: int) -> None:
    items = Items(recent(200_000, days=120))
    windows = plan(items, max_workers=max_workers)

    assert_tiles(windows, items)
    share = 200_000 // max_workers
    assert max(items.count(window) for window in windows) <= max(share, PAGE * 2) + 2_000
