"""The spool: a SQLite file the receiver owns, where a delivery is durable before its 2xx.

WAL journal with `synchronous=FULL`: a committed transaction is on disk (fsync'd) when
`commit()` returns, and a killed process loses nothing committed. Tables:

- `deliveries`: one row per distinct delivery (`delivery_id`, a digest of the dedup key,
  is unique: a redelivery is ignored). `flushed` marks rows written to the warehouse,
  `planned` rows whose actions were planned from the rules. Rows stay after the flush, so a
  redelivery days later is still recognised, and `refiner events retry` still has the body,
  until `prune` (`refiner events prune`) deletes those that are finished and old enough.
- `actions`: the action log, one row per (delivery, rule, action): pending, done, or dead
  after `max_attempts` failures; `flushed` marks outcomes copied to the warehouse.
- `meta`: small named values, such as `refiner watch`'s cursor.

Each thread opens its own connection (`Spool.connect()`); SQLite serialises the writers.
`SpoolWriter` batches concurrent appends into one transaction (group commit), so one fsync
acknowledges many deliveries.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pipelines.events.payload import Delivery

Origin = Literal["webhook", "watch"]
ActionStatus = Literal["pending", "done", "dead"]

_SCHEMA = """
create table if not exists deliveries (
    seq integer primary key autoincrement,
    delivery_id text not null unique,
    delivery_key text not null,
    origin text not null,
    received_at text not null,
    body blob not null,
    flushed integer not null default 0,
    planned integer not null default 0
);
create index if not exists deliveries_unflushed on deliveries (flushed, seq);
create index if not exists deliveries_unplanned on deliveries (planned, seq);
create table if not exists actions (
    delivery_id text not null,
    rule text not null,
    action_index integer not null,
    action_type text not null,
    status text not null default 'pending',
    attempts integer not null default 0,
    next_at real not null default 0,
    last_error text,
    finished_at text,
    flushed integer not null default 0,
    primary key (delivery_id, rule, action_index)
);
create index if not exists actions_due on actions (status, next_at);
create table if not exists meta (name text primary key, value text not null);
"""
BUSY_TIMEOUT_MS = 10_000
GROUP_COMMIT_MAX = 1000


@dataclass(frozen=True)
class SpooledDelivery:
    seq: int
    delivery_id: str
    delivery_key: str
    origin: str
    received_at: str
    body: bytes


@dataclass(frozen=True)
class ActionRecord:
    delivery_id: str
    rule: str
    action_index: int
    action_type: str
    status: str
    attempts: int
    last_error: str | None
    finished_at: str | None


class Spool:
    """The spool file at `path` (created with its tables on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connection() as connection:
            connection.executescript(_SCHEMA)

    def connect(self) -> sqlite3.Connection:
        """A new connection for the calling thread, in WAL mode with full fsync."""
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        connection.execute("pragma journal_mode=wal")
        connection.execute("pragma synchronous=full")
        connection.execute(f"pragma busy_timeout={BUSY_TIMEOUT_MS}")
        return connection

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        connection = self.connect()
        try:
            yield connection
        finally:
            connection.close()

    def append(
        self, connection: sqlite3.Connection, items: Sequence[tuple[Delivery, bytes, Origin]]
    ) -> list[bool]:
        """Store `items` in one transaction; True for each one that was new (not a redelivery)."""
        now = datetime.now(UTC).isoformat()
        added: list[bool] = []
        with _transaction(connection):
            for delivery, body, origin in items:
                cursor = connection.execute(
                    "insert or ignore into deliveries (delivery_id, delivery_key, origin,"
                    " received_at, body) values (?, ?, ?, ?, ?)",
                    (delivery.delivery_id, delivery.key, origin, now, body),
                )
                added.append(cursor.rowcount == 1)
        return added

    def unflushed(self, connection: sqlite3.Connection, limit: int) -> list[SpooledDelivery]:
        rows = connection.execute(
            "select seq, delivery_id, delivery_key, origin, received_at, body from deliveries"
            " where flushed = 0 order by seq limit ?",
            (limit,),
        ).fetchall()
        return [SpooledDelivery(*row) for row in rows]

    def unflushed_count(self, connection: sqlite3.Connection) -> int:
        row = connection.execute("select count(*) from deliveries where flushed = 0").fetchone()
        return int(row[0])

    def unplanned(self, connection: sqlite3.Connection, limit: int) -> list[SpooledDelivery]:
        rows = connection.execute(
            "select seq, delivery_id, delivery_key, origin, received_at, body from deliveries"
            " where planned = 0 order by seq limit ?",
            (limit,),
        ).fetchall()
        return [SpooledDelivery(*row) for row in rows]

    def delivery(self, connection: sqlite3.Connection, delivery_id: str) -> SpooledDelivery | None:
        row = connection.execute(
            "select seq, delivery_id, delivery_key, origin, received_at, body from deliveries"
            " where delivery_id = ?",
            (delivery_id,),
        ).fetchone()
        return None if row is None else SpooledDelivery(*row)

    def mark_flushed(self, connection: sqlite3.Connection, seqs: Sequence[int]) -> None:
        with _transaction(connection):
            connection.executemany(
                "update deliveries set flushed = 1 where seq = ?", [(s,) for s in seqs]
            )

    def plan(
        self,
        connection: sqlite3.Connection,
        seqs: Sequence[int],
        planned: Sequence[tuple[str, str, int, str]],
    ) -> None:
        """Record the actions (delivery_id, rule, index, type) of deliveries `seqs`, once,
        in one transaction with marking them planned."""
        with _transaction(connection):
            connection.executemany(
                "insert or ignore into actions (delivery_id, rule, action_index, action_type)"
                " values (?, ?, ?, ?)",
                planned,
            )
            connection.executemany(
                "update deliveries set planned = 1 where seq = ?", [(seq,) for seq in seqs]
            )

    def due_actions(self, connection: sqlite3.Connection, limit: int) -> list[ActionRecord]:
        rows = connection.execute(
            f"select {_ACTION_COLUMNS} from actions where status = 'pending' and next_at <= ?"
            " order by next_at limit ?",
            (time.time(), limit),
        ).fetchall()
        return [ActionRecord(*row) for row in rows]

    def record_outcome(
        self,
        connection: sqlite3.Connection,
        action: ActionRecord,
        status: ActionStatus,
        error: str | None,
        next_at: float = 0.0,
    ) -> None:
        finished = datetime.now(UTC).isoformat() if status != "pending" else None
        with _transaction(connection):
            connection.execute(
                "update actions set status = ?, attempts = attempts + 1, last_error = ?,"
                " next_at = ?, finished_at = ?, flushed = 0"
                " where delivery_id = ? and rule = ? and action_index = ?",
                (
                    status,
                    error,
                    next_at,
                    finished,
                    action.delivery_id,
                    action.rule,
                    action.action_index,
                ),
            )

    def actions(
        self, connection: sqlite3.Connection, status: str | None = None
    ) -> list[ActionRecord]:
        where, params = ("where status = ?", (status,)) if status else ("", ())
        rows = connection.execute(
            f"select {_ACTION_COLUMNS} from actions {where}"
            " order by delivery_id, rule, action_index",
            params,
        ).fetchall()
        return [ActionRecord(*row) for row in rows]

    def requeue_dead(self, connection: sqlite3.Connection, delivery_id: str | None = None) -> int:
        """Make dead actions pending again with a fresh attempt count; returns how many."""
        where = "status = 'dead'" + (" and delivery_id = ?" if delivery_id else "")
        with _transaction(connection):
            cursor = connection.execute(
                f"update actions set status = 'pending', attempts = 0, next_at = 0 where {where}",
                (delivery_id,) if delivery_id else (),
            )
        return cursor.rowcount

    def unflushed_outcomes(self, connection: sqlite3.Connection, limit: int) -> list[ActionRecord]:
        rows = connection.execute(
            f"select {_ACTION_COLUMNS} from actions where flushed = 0 and status != 'pending'"
            " limit ?",
            (limit,),
        ).fetchall()
        return [ActionRecord(*row) for row in rows]

    def mark_outcomes_flushed(
        self, connection: sqlite3.Connection, actions: Sequence[ActionRecord]
    ) -> None:
        with _transaction(connection):
            connection.executemany(
                "update actions set flushed = 1 where delivery_id = ? and rule = ?"
                " and action_index = ? and status = ? and attempts = ?",
                [(a.delivery_id, a.rule, a.action_index, a.status, a.attempts) for a in actions],
            )

    def prune(self, connection: sqlite3.Connection, received_before: datetime) -> int:
        """Delete the deliveries received before `received_before` that are finished: in the
        warehouse, planned, and with every action done and its outcome in the warehouse; and
        their actions. A delivery not yet flushed, or with a pending or dead action, stays.
        Returns how many deliveries were deleted."""
        finished = (
            "select delivery_id from deliveries where flushed = 1 and planned = 1"
            " and received_at < ? and not exists (select 1 from actions"
            " where actions.delivery_id = deliveries.delivery_id"
            " and (status != 'done' or flushed = 0))"
        )
        cutoff = (received_before.astimezone(UTC).isoformat(),)
        with _transaction(connection):
            connection.execute(f"delete from actions where delivery_id in ({finished})", cutoff)
            cursor = connection.execute(
                f"delete from deliveries where delivery_id in ({finished})", cutoff
            )
        return cursor.rowcount

    def get_meta(self, connection: sqlite3.Connection, name: str) -> str | None:
        row = connection.execute("select value from meta where name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, connection: sqlite3.Connection, name: str, value: str) -> None:
        with _transaction(connection):
            connection.execute(
                "insert into meta (name, value) values (?, ?)"
                " on conflict (name) do update set value = excluded.value",
                (name, value),
            )


_ACTION_COLUMNS = (
    "delivery_id, rule, action_index, action_type, status, attempts, last_error, finished_at"
)


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("begin immediate")
    try:
        yield
    except BaseException:
        connection.execute("rollback")
        raise
    connection.execute("commit")


class SpoolWriter:
    """Appends from many request handlers, committed together by one thread (group commit).

    `submit()` returns a future that resolves to True (new) or False (a redelivery) once the
    delivery is committed, or to the exception that prevented it. `close()` commits what is
    queued, then stops the thread."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._queue: queue.Queue[tuple[Delivery, bytes, Origin, Future[bool]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery, body: bytes, origin: Origin = "webhook") -> Future[bool]:
        future: Future[bool] = Future()
        self._queue.put((delivery, body, origin, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        with self._spool.connection() as connection:
            stopping = False
            while not stopping:
                first = self._queue.get()
                batch = [] if first is None else [first]
                stopping = first is None
                while len(batch) < GROUP_COMMIT_MAX:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                if batch:
                    self._commit(connection, batch)

    def _commit(
        self,
        connection: sqlite3.Connection,
        batch: list[tuple[Delivery, bytes, Origin, Future[bool]]],
    ) -> None:
        try:
            added = self._spool.append(connection, [(d, b, o) for d, b, o, _ in batch])
        except Exception as error:
            for *_, future in batch:
                future.set_exception(error)
            return
        for (*_, future), new in zip(batch, added, strict=True):
            future.set_result(new)
