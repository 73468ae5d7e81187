"""One dlt run of the `refiner` source: the pipeline, its run lock, and its three steps.

`load_source` runs extract, normalize and load with dlt's public step methods, in the order
and with the resumption rules of `Pipeline.run`: packages a stopped run left behind are
normalized and loaded first, and then the run ends, as `Pipeline.run` does. On DuckDB the
load step starts with freed memory handed back and one connection held (see
`_duckdb_load`). A child row whose parent was reloaded without it is deleted after each load.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import dlt
import pyarrow
from dlt import Pipeline
from dlt.common.destination.exceptions import DestinationTransientException
from dlt.common.pipeline import LoadInfo, get_dlt_pipelines_dir
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.config import Settings
from pipelines.errors import (
    ConfigError,
    LoadInProgressError,
    error_chain,
    unreachable_warehouse,
)
from pipelines.load.cleanup import delete_stale_children
from pipelines.load.destinations import prepare_resources, warehouse_busy
from pipelines.load.dlt_compat import drop_committed_extracted_packages, use_project_defaults
from sources.refiner.client import RefinerClient
from sources.refiner.errors import RefinerError
from sources.refiner.schema import TABLES_BY_RESOURCE
from sources.refiner.source import RunStats, refiner

_EXPECTED_NOTICES: Final = (
    # JSON columns arrive as text for their `json` hint, by design.
    "when merging arrow schema with dlt schema",
    # insert_values on PostgreSQL is chosen on purpose (pipelines/load/destinations.py).
    "A ArrowToInsertValuesWriter writer is used",
)


@dataclass
class Outcome:
    """What one dlt run wrote: its load ids, and the stale child rows it deleted per table."""

    load_ids: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)


@contextmanager
def run_lock(pipeline_name: str, pipelines_dir: str | Path | None) -> Iterator[None]:
    """Hold an exclusive lock on `pipeline_name` for one run; refuse at once if it is held.

    Two runs on one pipeline would share its working folder (each normalizing or deleting the
    other's packages) and its warehouse. The lock file sits beside the working folder, not in
    it, because dlt wipes a working folder that has no state yet. flock is released by the
    kernel when the process dies, so a killed run never leaves a stale lock."""
    folder = Path(pipelines_dir or get_dlt_pipelines_dir())
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{pipeline_name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadInProgressError(
                f"another `refiner load` is already running on pipeline {pipeline_name}; "
                "wait for it to finish, then run again"
            ) from None
        yield


def open_pipeline(
    pipeline_name: str, target: Any, dataset: str, pipelines_dir: str | Path | None
) -> Pipeline:
    """The dlt pipeline, made after the project's dlt defaults are in place."""
    use_project_defaults()
    quiet_expected_notices()
    options: dict[str, Any] = {"pipelines_dir": str(pipelines_dir)} if pipelines_dir else {}
    return dlt.pipeline(
        pipeline_name=pipeline_name, destination=target, dataset_name=dataset, **options
    )


def make_source(
    client: RefinerClient,
    settings: Settings,
    stats: RunStats,
    *,
    reconcile: bool = False,
    start: datetime | None = None,
    window: tuple[datetime, datetime] | None = None,
    backfill_since: datetime | None = None,
) -> Any:
    """The source on the shared client, every setting passed as resolved by pipelines/config.py.
    `start` replaces the configured start_date (used only while responses have no cursor yet);
    `window` makes responses one backfill window."""
    options = settings.source_arguments()
    if start is not None:
        options["start_date"] = start.isoformat()
    if window is not None:
        options.update(
            responses_since=window[0], responses_until=window[1], backfill_since=backfill_since
        )
    return refiner(client=client, stats=stats, reconcile=reconcile, **options)


def restore_state(pipeline: Pipeline) -> None:
    """Restore the pipeline's state from the destination when the local copy is older or
    gone (what `Pipeline.run` does first), unless `restore_from_destination` is off."""
    if pipeline.config.restore_from_destination:
        with _warehouse_errors():
            pipeline.sync_destination()


def load_source(
    pipeline: Pipeline, source: Any, selected: Sequence[str], destination: str, refresh: bool
) -> Outcome:
    """One dlt run of the `selected` resources, then the removal of stale child rows.

    Raises the Refiner, config or warehouse error under dlt's step wrappers."""
    source = source.with_resources(*selected)
    prepare_resources(source, destination, TABLES_BY_RESOURCE)
    drop_committed_extracted_packages(pipeline)
    with _warehouse_errors():
        info = _run_steps(pipeline, source, "drop_sources" if refresh else None)
    outcome = Outcome()
    if info is None:
        return outcome
    info.raise_on_failed_jobs()
    outcome.load_ids.extend(info.loads_ids)
    written = {
        job.job_file_info.table_name
        for package in info.load_packages
        for job in package.jobs["completed_jobs"]
    }
    if info.loads_ids:
        outcome.deleted = delete_stale_children(pipeline, info.loads_ids, written)
    return outcome


def _run_steps(
    pipeline: Pipeline, source: Any, refresh: Literal["drop_sources"] | None
) -> LoadInfo | None:
    """`Pipeline.run` after `restore_state`, as its public steps, so that the load step can
    be prepared (`_load`): pending packages of a stopped run are finished first, and then
    the run ends, as `Pipeline.run` does."""
    if pipeline.has_pending_data:
        if pipeline.list_extracted_load_packages():
            pipeline.normalize()
        if pipeline.list_normalized_load_packages():
            return _load(pipeline)
    pipeline.extract(source, refresh=refresh)
    pipeline.normalize()
    return _load(pipeline)


def _load(pipeline: Pipeline) -> LoadInfo | None:
    if pipeline.destination.destination_type.endswith(".duckdb"):
        return _duckdb_load(pipeline)
    return pipeline.load()


def _duckdb_load(pipeline: Pipeline) -> LoadInfo | None:
    """The load step with freed memory handed back and one connection held.

    Memory: see `release_freed_memory`.

    Connection: dlt's load jobs borrow connections from one pool, which closes the file when
    the last job returns its connection, and DuckDB checkpoints on that close. That came
    before dlt truncated the staging tables (`truncate_staging_dataset`), so the checkpoint
    also wrote the staging copy of every row. Held open, the file is checkpointed once, after
    the truncation. The connection is taken when the load step starts, not before, so the file
    stays free while the run extracts. When it cannot be taken, the load step runs as before
    and reports the warehouse's error itself."""
    release_freed_memory()
    held = pipeline.sql_client()
    try:
        held.open_connection()
    except DestinationTransientException:
        return pipeline.load()
    try:
        return pipeline.load()
    finally:
        held.close_connection()


def release_freed_memory() -> None:
    """Return to the system the memory that the extract step freed but its allocators kept.

    pyarrow's memory pool (mimalloc) and glibc's malloc keep freed pages for reuse, and DuckDB
    allocates through its own allocator, so those pages would sit beside DuckDB's up to its
    memory limit. malloc_trim exists only in glibc; elsewhere only pyarrow's pool is released."""
    pyarrow.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
        if trim is not None:
            trim(0)


@contextmanager
def _warehouse_errors() -> Iterator[None]:
    """Raise the Refiner, config or warehouse error under dlt's step wrappers instead, so the
    CLI maps it to its exit code and prints what happened."""
    try:
        yield
    except Exception as failed:
        unusable = warehouse_busy(failed) or unreachable_warehouse(failed)
        if unusable is not None:
            raise unusable from None
        if not isinstance(failed, PipelineStepFailed):
            raise
        for error in error_chain(failed):
            if isinstance(error, RefinerError | ConfigError):
                raise error from None
        raise failed from None


def quiet_expected_notices() -> None:
    """Drop dlt warnings about choices made here on purpose (_EXPECTED_NOTICES)."""
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _DropExpectedNotices) for f in dlt_logger.filters):
        dlt_logger.addFilter(_DropExpectedNotices())


class _DropExpectedNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(notice in message for notice in _EXPECTED_NOTICES)
