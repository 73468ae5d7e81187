"""Turn-taking on one DuckDB file between the batch jobs and long-running processes.

DuckDB lets one process at a time open a file for writing, and a second process that tries
fails at once instead of waiting. So every writer also takes an advisory lock on a file
beside the database (`<file>.writer.lock`): `refiner load` and `refiner transform` wait for
it (a receiver holds it for a short flush only), and long-running processes such as
`refiner listen` try it without waiting and keep their work spooled when it is taken.
flock is released by the kernel when a process dies, so a killed writer leaves no stale lock.
PostgreSQL needs none of this.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.defaults import DEFAULT_DUCKDB_PATH


class WarehouseBusy(Exception):
    """Another process holds the DuckDB file; try again later."""


def duckdb_file(duckdb_path: str | Path | None) -> Path:
    """The DuckDB file a command writes: `duckdb_path`, else DESTINATION__DUCKDB__CREDENTIALS,
    else ./refiner.duckdb (the resolution `refiner load` uses)."""
    import dlt

    configured = duckdb_path or dlt.config.get("destination.duckdb.credentials")
    return Path(str(configured or DEFAULT_DUCKDB_PATH)).resolve()


@contextmanager
def writer_turn(database: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold the writer lock of `database` for the block. With `wait=False` raise
    WarehouseBusy at once when another process holds it."""
    lock_path = database.with_name(database.name + ".writer.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            raise WarehouseBusy(f"{database} is in use by another writer") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
