"""Moves spooled deliveries and finished action outcomes to the warehouse in micro-batches.

A batch is at most FLUSH_BATCH deliveries. Writes start no closer than FLUSH_INTERVAL
(0.5 s) unless a full batch waits, so a delivery waits at most that long, or for the write
in progress, before its batch starts; when idle, at most `poll_seconds`.
Rows are marked flushed in the spool only after the warehouse committed them: a crash in
between writes them again on restart, and the `webhook_*` tables are deduplicated by dbt
staging, never by the append. When the warehouse is busy
(another process holds the DuckDB file) or failing, the flusher backs off, doubling up to
`backoff_max`, and everything stays in the spool meanwhile.

The flusher runs in a child process (FlushProcess): dlt's work would otherwise hold the
receiver's interpreter lock for most of each write and stall acknowledgements. The child
ignores SIGINT and SIGTERM (the parent stops it after its own shutdown, so everything
acknowledged is flushed first), holds an exclusive lock beside the spool so two flushers
never write the same rows, and exits without a last flush if its parent dies (the next
start replays the spool).
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.events.spool import Spool
from pipelines.events.warehouse import EventsWarehouse, WarehouseTarget
from pipelines.warehouse_lock import WarehouseBusy

logger = logging.getLogger(__name__)

FLUSH_BATCH = 1000
FLUSH_INTERVAL = 0.5
BUSY_RETRY_SECONDS = 0.05
"""First wait after the warehouse was busy or failed; it doubles up to `backoff_max`. Short
readers of the DuckDB file hold it for milliseconds; a batch load holds it for minutes."""
"""A write starts at most this often unless FLUSH_BATCH deliveries wait: each dlt run has a
fixed cost, and back-to-back runs would take the CPU from the requests."""


class Flusher:
    """The flush loop over one spool and warehouse."""

    def __init__(
        self,
        spool: Spool,
        warehouse: EventsWarehouse,
        poll_seconds: float = 0.2,
        backoff_max: float = 10.0,
    ) -> None:
        self._spool = spool
        self._warehouse = warehouse
        self._poll = poll_seconds
        self._backoff_max = backoff_max

    def run(self, stopping: Callable[[], bool]) -> None:
        """Flush micro-batches until `stopping()` is true."""
        wait = BUSY_RETRY_SECONDS
        last_write = 0.0
        with self._spool.connection() as connection:
            while not stopping():
                early = last_write + FLUSH_INTERVAL - time.monotonic()
                if early > 0 and self._spool.unflushed_count(connection) < FLUSH_BATCH:
                    time.sleep(min(self._poll, early))
                    continue
                started = time.monotonic()
                try:
                    if self.flush_once(connection):
                        wait, last_write = BUSY_RETRY_SECONDS, started
                        continue
                except WarehouseBusy:
                    logger.info("warehouse busy; deliveries stay spooled, retrying in %.1fs", wait)
                except Exception:
                    logger.exception("flush failed; deliveries stay spooled")
                else:
                    time.sleep(self._poll)
                    continue
                time.sleep(wait)
                wait = min(wait * 2, self._backoff_max)

    def drain(self, deadline_seconds: float) -> int:
        """Flush everything spooled, retrying while the warehouse is busy until
        `deadline_seconds` pass. Returns how many deliveries remain spooled."""
        give_up = time.monotonic() + deadline_seconds
        wait = self._poll
        with self._spool.connection() as connection:
            while True:
                try:
                    while self.flush_once(connection):
                        pass
                    return 0
                except Exception as error:
                    if time.monotonic() + wait > give_up:
                        left = self._spool.unflushed_count(connection)
                        logger.error("stopping with %d deliveries spooled: %s", left, error)
                        return left
                    time.sleep(wait)
                    wait = min(wait * 2, self._backoff_max)

    def flush_once(self, connection: sqlite3.Connection) -> bool:
        """Write one micro-batch; True if there was anything to write."""
        deliveries = self._spool.unflushed(connection, FLUSH_BATCH)
        outcomes = self._spool.unflushed_outcomes(connection, FLUSH_BATCH)
        if not deliveries and not outcomes:
            return False
        self._warehouse.write(deliveries, outcomes)
        self._spool.mark_flushed(connection, [d.seq for d in deliveries])
        self._spool.mark_outcomes_flushed(connection, outcomes)
        return True


class FlushProcess:
    """A Flusher in a child process, from `start()` until `stop()`."""

    def __init__(
        self, spool_path: Path, target: WarehouseTarget, working_dir: Path, poll_seconds: float
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        arguments = (spool_path, target, working_dir, poll_seconds, self._stop, os.getpid())
        self._process = context.Process(target=_flush_in_child, args=arguments, name="flusher")

    def start(self) -> None:
        self._process.start()

    def stop(self, deadline_seconds: float = 30.0) -> int | None:
        """Ask the child to flush everything and exit; returns its exit code (the number of
        deliveries left spooled when the deadline passed, else 0)."""
        self._stop.set()
        self._process.join(deadline_seconds + 60)
        return self._process.exitcode


def _flush_in_child(
    spool_path: Path,
    target: WarehouseTarget,
    working_dir: Path,
    poll_seconds: float,
    stop: Any,
    parent: int,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Acknowledgements come first when the cores are busy; the flush can wait a little.
    os.nice(FLUSHER_NICENESS)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spool = Spool(spool_path)
    flusher = Flusher(spool, EventsWarehouse(target, working_dir), poll_seconds)
    with spool_path.with_name(spool_path.name + ".flusher.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        flusher.run(lambda: stop.is_set() or os.getppid() != parent)
        if os.getppid() != parent:
            return
        left = flusher.drain(DRAIN_SECONDS)
    raise SystemExit(min(left, 255))


DRAIN_SECONDS = 30.0
FLUSHER_NICENESS = 5
