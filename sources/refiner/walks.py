"""How the resources walk Refiner's endpoints: which requests, in which order, when to stop.

- contacts: cursor pages newest `last_seen_at` first; a worker reshapes a page while the next
  one is fetched, and an incremental walk stops after the page that reaches below its floor.
- responses: the range is cut into date windows of similar size by Refiner's `items_count`
  (sources/refiner/windows.py); each window is a cursor-paged walk, and the walks run
  concurrently.
- reporting: one small request per report type x form x day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from sources.refiner.client import RefinerClient
from sources.refiner.errors import ServerError, TransportError
from sources.refiner.pagination import DecodedPage
from sources.refiner.reshape import ContactTables, reshape_report
from sources.refiner.timestamps import format_query_timestamp
from sources.refiner.windows import MIN_WINDOW, Window, balanced_windows

# The walks run inside the source's resources, so they log as the source.
logger = logging.getLogger("sources.refiner.source")

T = TypeVar("T")
Walk = Callable[[], Iterator[T]]
"""One sequential walk, started by `concurrent_pages` on a worker thread."""
Decoder = Callable[[bytes], tuple[Future[T], dict[str, Any], int]]


def contact_tables(
    pages: Iterable[DecodedPage[Future[ContactTables]]], floor: datetime | None
) -> Iterator[ContactTables]:
    """The reshaped tables of each contacts page, in order.

    With a `floor`, stops after the page whose oldest `last_seen_at` is below it (whether to
    read on depends on that page's contacts). Without, a worker reshapes a page while the next
    one is fetched.
    """
    reshaping: Future[ContactTables] | None = None
    for page in pages:
        if floor is not None:
            tables = page.value.result()
            yield tables
            if _reaches_below(tables.contacts["last_seen_at"], floor):
                return
        else:
            if reshaping is not None:
                yield reshaping.result()
            reshaping = page.value
    if reshaping is not None:
        yield reshaping.result()


def response_windows(
    client: RefinerClient,
    params: Mapping[str, Any],
    start: datetime,
    end: datetime,
    *,
    page_length: int,
    max_workers: int,
) -> tuple[list[Window], int | None]:
    """[start, end) cut into windows of similar size, newest first, and the responses in it
    (None when not counted: a range up to MIN_WINDOW is read whole without counting)."""

    def count(window: Window) -> int | None:
        """Refiner's `items_count` for a window; None (read it whole) if it cannot be had.

        A count only balances the windows, so a count that still fails after the client's
        retries is logged and skipped; the window's own pages are fetched (and fail) as usual.
        """
        try:
            bounds = window_params(params, window)
            page = next(iter(client.iter_pages("responses", bounds, page_length=1)))
        except (ServerError, TransportError) as error:
            logger.warning("Reading responses without splitting a window further: %s", error)
            return None
        items = page.pagination.get("items_count")
        return items if type(items) is int else None

    total = count((start, end)) if end - start > MIN_WINDOW else None
    windows = balanced_windows(
        start, end, total, count, page_length=page_length, max_workers=max_workers
    )
    return windows, total


def window_params(
    params: Mapping[str, Any], window: Window, *, open_end: bool = False
) -> dict[str, Any]:
    """`params` with the window's date range (no end when `open_end`)."""
    bounded = {**params, "date_range_start": format_query_timestamp(window[0])}
    if not open_end:
        bounded["date_range_end"] = format_query_timestamp(window[1])
    return bounded


def window_walks(
    client: RefinerClient,
    params: Mapping[str, Any],
    windows: Sequence[Window],
    decoder: Callable[[], Decoder[T]],
    *,
    open_end: bool,
    page_length: int,
) -> list[Walk[Future[T]]]:
    """One walk of `/responses` pages per window, each page decoded by its own `decoder()`; with
    `open_end`, the newest window has no end, so responses arriving during the run are read."""

    def walk(window: Window, newest: bool) -> Walk[Future[T]]:
        bounds = window_params(params, window, open_end=newest and open_end)
        pages = client.iter_decoded_pages("responses", bounds, decoder(), page_length=page_length)
        return lambda: (page.value for page in pages)

    return [walk(window, index == 0) for index, window in enumerate(windows)]


def report_days(
    last_day: str | None, today: date, *, refetch_days: int, first_days: int
) -> list[date]:
    """The days to fetch reports for: from `refetch_days` before the last loaded day (or
    `first_days` before today on the first run) through today."""
    if last_day:
        first = min(date.fromisoformat(last_day), today) - timedelta(days=refetch_days - 1)
    else:
        first = today - timedelta(days=first_days - 1)
    return [first + timedelta(days=offset) for offset in range((today - first).days + 1)]


def form_uuids(client: RefinerClient, page_length: int) -> list[str]:
    """The uuid of every survey, archived ones included."""
    return [
        item["uuid"]
        for page in client.iter_pages(
            "forms", {"list": "all_with_archived"}, page_length=page_length, paging="page"
        )
        for item in page.items
        if item.get("uuid")
    ]


def report_walks(
    client: RefinerClient,
    report_types: Iterable[str],
    forms: Sequence[str],
    days: Sequence[date],
) -> list[Walk[dict[str, Any]]]:
    """One walk per report type x form x day, each yielding that day's report row."""

    def walk(report_type: str, form_uuid: str, day: date) -> Walk[dict[str, Any]]:
        def fetch() -> Iterator[dict[str, Any]]:
            report = client.get_reporting(
                report_type,  # type: ignore[arg-type]
                form_uuids=[form_uuid],
                date_range_start=day,
                date_range_end=day + timedelta(days=1),
            )
            body = msgspec.to_builtins(report)
            yield reshape_report(report_type, form_uuid, day, body)

        return fetch

    return [
        walk(report_type, form_uuid, day)
        for report_type in report_types
        for form_uuid in forms
        for day in days
    ]


def _reaches_below(cursor: pa.ChunkedArray | pa.Array, floor: datetime) -> bool:
    oldest = pc.min(cursor).as_py()
    return oldest is not None and oldest < floor
