"""Moves spooled deliveries and finished action outcomes to the warehouse in micro-batches.

A batch is at most FLUSH_BATCH deliveries; a new delivery waits at most `poll_seconds`
(when idle) or one write (when busy) before its batch starts, so micro-batches are at most
about a second apart. Rows are marked flushed in the spool only after the warehouse
committed them: a crash in between writes them again on restart, and the `webhook_*`
tables are deduplicated by dbt staging, never by the append. When the warehouse is busy
(another process holds the DuckDB file) or failing, the flusher backs off, doubling up to
`backoff_max`, and everything stays in the spool meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from pipelines.events.spool import Spool
from pipelines.events.warehouse import EventsWarehouse
from pipelines.warehouse_lock import WarehouseBusy

logger = logging.getLogger(__name__)

FLUSH_BATCH = 1000


class Flusher:
    """The background flush loop; `stop()` ends it after a last flush of the spool."""

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
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flusher", daemon=True)
        self.flushed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, deadline_seconds: float = 30.0) -> int:
        """Stop the loop, then flush what is spooled, retrying while the warehouse is busy
        until `deadline_seconds` pass. Returns how many deliveries remain spooled."""
        self._stop.set()
        self._thread.join()
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
                        left = len(self._spool.unflushed(connection, 10**9))
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
        self.flushed += len(deliveries)
        return True

    def _loop(self) -> None:
        wait = self._poll
        with self._spool.connection() as connection:
            while not self._stop.is_set():
                try:
                    if self.flush_once(connection):
                        wait = self._poll
                        continue
                except WarehouseBusy:
                    logger.info("warehouse busy; deliveries stay spooled, retrying in %.1fs", wait)
                    self._stop.wait(wait)
                    wait = min(wait * 2, self._backoff_max)
                    continue
                except Exception:
                    logger.exception("flush failed; deliveries stay spooled")
                    self._stop.wait(wait)
                    wait = min(wait * 2, self._backoff_max)
                    continue
                self._stop.wait(self._poll)
