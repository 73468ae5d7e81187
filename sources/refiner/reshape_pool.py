"""Parse and reshape pages in worker processes, so a large load uses more than one core.

Decoding a page's JSON and building its Arrow tables hold the GIL; in the extracting process
they compete with dlt, which writes the tables. On a large load the source hands each page's
bytes to a `ReshapePool` instead: the fetching thread checks the envelope and reads its
pagination (`scan_page`, the checks and `MalformedBodyError` of `parse_page`, so a malformed
page is retried like any other) and fetches the next page, while a worker process parses the
page, reshapes it, and sends the Arrow tables back. The API key never reaches a worker.

The decoders are plain module functions so that they pickle; the pool starts its processes
with "spawn" on first use (never "fork": the parent runs HTTP and dlt threads).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, TypeVar

from sources.refiner.pagination import parse_page, scan_page
from sources.refiner.reshape import (
    ContactTables,
    ResponseTables,
    reshape_contacts,
    reshape_responses,
)
from sources.refiner.worker_start import start_worker

T = TypeVar("T")
logger = logging.getLogger(__name__)

Decoded = tuple[T, dict[str, Any], int]
"""What a page decoder returns: the reshaped tables, the page's `pagination`, its item count."""

MAX_PROCESSES: Final = 8


def default_processes() -> int:
    """Worker processes of the pool that contacts and responses share: for each of the two,
    one per core that the extracting process leaves (2 on a 2-core machine, at most 8)."""
    return max(2, min(MAX_PROCESSES, 2 * ((os.cpu_count() or 2) - 1)))


def decode_responses(content: bytes, *, with_attributes: bool) -> Decoded[ResponseTables]:
    """A `/responses` page body → its `responses` and `response_answers` tables."""
    page = parse_page(content)
    tables = reshape_responses(page.items, with_attributes=with_attributes)
    return tables, page.pagination, page.item_count


def decode_contacts(content: bytes) -> Decoded[ContactTables]:
    """A `/contacts` page body → its `contacts`, `contact_attributes`, `contact_segments`."""
    page = parse_page(content)
    return reshape_contacts(page.items), page.pagination, page.item_count


def _value(task: Callable[[bytes], Decoded[T]], content: bytes) -> T:
    """Runs in a worker: the reshaped tables only (the walk already has the pagination)."""
    return task(content)[0]


class ReshapePool:
    """A lazily started pool of worker processes running page decoders, shared by the walks of
    one run.

    `decoder(...)` returns a callable for `RefinerClient.iter_decoded_pages` whose values are
    Futures; a page sent to a worker travels as bytes, and its Future raises what the decoder
    raised. Processes start on the first page sent to them. Each resource uses the pool inside
    `lease()`; when the last lease ends, the processes stop (pages still pending are dropped).
    Sharing one pool lets the workers that finish contacts' pages take responses' pages; with a
    pool per resource, the end of a first load's extract ran on one worker.
    """

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self._executor: ProcessPoolExecutor | None = None
        self._leases = 0
        self._lock = threading.Lock()

    @contextmanager
    def lease(self) -> Iterator[ReshapePool]:
        """Use the pool for one resource's walks; the last lease to end stops the workers."""
        with self._lock:
            self._leases += 1
        try:
            yield self
        finally:
            idle = None
            with self._lock:
                self._leases -= 1
                if self._leases == 0:
                    idle, self._executor = self._executor, None
            if idle is not None:
                idle.shutdown(wait=True, cancel_futures=True)

    def decoder(
        self,
        fn: Callable[..., Decoded[T]],
        *,
        min_items: int,
        total: int | None = None,
        stops_early: bool = False,
        **options: Any,
    ) -> Callable[[bytes], Decoded[Future[T]]]:
        """A page decoder for one walk: `fn(content, **options)`, in a worker once the walk is
        known to cover at least `min_items` items, in the calling thread before that.

        The decoded value comes as a Future, so that the walk can fetch its next page while a
        worker reshapes this one. For a page sent to a worker, the calling thread reads the
        pagination and item count with `scan_page`, which checks the envelope as the worker
        will: a malformed page fails in the walk and is retried like any other. A page decoded
        in the thread comes with its Future already done.

        `total` is the walk's size when the caller counted it; otherwise the first page's
        `items_count` decides, so a small walk never starts a process. A walk that
        `stops_early` (contacts read down to the cursor) may end long before `items_count`, so
        only the items it has read decide: a frequent run's few pages never start a process.
        """
        task = partial(fn, **options)
        in_pool = total is not None and total >= min_items
        read = 0

        def decode(content: bytes) -> Decoded[Future[T]]:
            nonlocal in_pool, read
            if in_pool:
                pagination, count = scan_page(content)
                return self._start().submit(_value, task, content), pagination, count
            value, pagination, count = task(content)
            read += count
            items = read if stops_early else pagination.get("items_count")
            in_pool = type(items) is int and items >= min_items
            done: Future[T] = Future()
            done.set_result(value)
            return done, pagination, count

        return decode

    def _start(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                logger.info("Parsing pages in %d worker processes", self.processes)
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=start_worker,
                    initargs=(logging.getLogger("sources.refiner").getEffectiveLevel(),),
                )
            return self._executor
