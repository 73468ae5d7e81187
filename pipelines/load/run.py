"""`run_load`: Refiner into a warehouse with the `refiner` dlt source; `LoadSummary`.

One call is one `refiner load`: check the names and every setting, check the key (so a wrong
key or an unreachable API fails before the warehouse is touched), run the dlt pipeline
(pipelines/load/steps.py), remove stale child rows, optionally apply reconcile deletions
(pipelines/load/cleanup.py), and count what this load wrote, in the destination itself.

- `since`/`until` backfill responses in windows (pipelines/load/backfill.py). Without `until`
  the backfill runs to now and the ordinary incremental run continues from there; with
  `until` the responses cursor is left alone.
- `reconcile` sweeps all contacts; contacts not seen by the sweep are gone from Refiner and
  are deleted with their attributes, segments, responses and answers, as Refiner does. Run
  it nightly (or weekly): it reads every contact, while ordinary runs read only recent ones.
- The pipeline's state is restored from the destination when the local pipeline folder is
  gone; the pipeline name depends on the destination and dataset
  (pipelines/load/destinations.py).
- One run at a time per pipeline: a second `refiner load` on the same pipeline is refused at
  once (LoadInProgressError) and touches nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dlt import Pipeline
from dlt.extract.resource import DltResource

from pipelines.config import check_dataset, check_destination, make_client, resolve_source_settings
from pipelines.defaults import DEFAULT_DATASET
from pipelines.errors import ConfigError
from pipelines.load.backfill import BACKFILL_WINDOW_DAYS, backfill
from pipelines.load.cleanup import delete_unseen_contacts, existing_tables
from pipelines.load.destinations import pipeline_identity
from pipelines.load.steps import (
    Outcome,
    load_source,
    make_source,
    open_pipeline,
    restore_state,
    run_lock,
)
from pipelines.warehouse_lock import duckdb_file, writer_turn
from sources.refiner.client import RefinerClient
from sources.refiner.schema import RESOURCE_NAMES, TABLES_BY_RESOURCE
from sources.refiner.source import RunStats
from sources.refiner.timestamps import parse_timestamp

__all__ = ["BACKFILL_WINDOW_DAYS", "LoadSummary", "ProgressCallback", "run_load"]

logger = logging.getLogger(__name__)


@dataclass
class LoadSummary:
    """What one `run_load` did. Row counts are read from the destination for this load."""

    destination: str
    dataset: str
    pipeline_name: str
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per table written by this load (`_dlt_load_id` of this run's loads)."""
    deleted: dict[str, int] = field(default_factory=dict)
    """Rows per table removed: stale child rows of reloaded parents, and --reconcile's."""
    requests: int = 0
    duration_seconds: float = 0.0
    cursors: dict[str, Any] = field(default_factory=dict)
    """New cursor values: responses and contacts last values, reporting's last day."""
    missing_cursor: dict[str, int] = field(default_factory=dict)
    """Records per table that had no cursor value (loaded, counted, logged)."""
    load_ids: list[str] = field(default_factory=list)
    backfill_windows: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count one dlt run's load ids and deletions in."""
        self.load_ids.extend(outcome.load_ids)
        _add(self.deleted, outcome.deleted)


ProgressCallback = Callable[[str, RunStats, int], None]
"""Called about twice a second with a phase label, the source's counters and API requests."""


def run_load(
    *,
    destination: str = "duckdb",
    dataset: str = DEFAULT_DATASET,
    resources: Sequence[str] | None = None,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
    reconcile: bool = False,
    full_refresh: bool = False,
    duckdb_path: str | Path | None = None,
    pipelines_dir: str | Path | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    progress: ProgressCallback | None = None,
    extra_resources: Sequence[DltResource] = (),
) -> LoadSummary:
    """Load Refiner into `destination`/`dataset` and return what this load did.

    `destination` is duckdb or postgres. `resources` selects among contacts, forms, responses,
    segments, reporting, account_usage (all by default). `since`/`until` backfill responses
    in date windows (dates or ISO date-times, UTC); `reconcile` sweeps contacts and deletes
    what Refiner no longer has; `full_refresh` drops this source's tables and state first.
    `extra_resources` are dlt resources of the project's own (the MCP audit log) loaded into
    the same dataset after the source, under the same pipeline lock.
    DuckDB writes to `duckdb_path` (else DESTINATION__DUCKDB__CREDENTIALS, else
    ./refiner.duckdb). PostgreSQL takes its credentials from dlt config, e.g.
    DESTINATION__POSTGRES__CREDENTIALS.

    Raises ConfigError for bad arguments or settings before any request, LoadInProgressError
    when another run holds this pipeline, WarehouseBusyError when another process holds the
    DuckDB file, WarehouseUnavailableError when PostgreSQL cannot be reached, the client's
    AuthError / TransportError / ... when Refiner fails, and dlt's errors when the warehouse
    fails otherwise.
    """
    started = time.monotonic()
    check_destination(destination)
    check_dataset(dataset)
    selected = _select_resources(resources)
    since_at = _parse_bound("--since", since)
    until_at = _parse_bound("--until", until)
    if until_at is not None and since_at is None:
        raise ConfigError("--until needs --since: give the start of the backfill too")
    if since_at is not None and until_at is not None and until_at <= since_at:
        raise ConfigError("--until must be later than --since")
    if since_at is not None and "responses" not in selected:
        raise ConfigError("--since backfills responses; include responses in --resources")

    settings = resolve_source_settings(api_key, base_url)
    stats = RunStats()
    pipeline_name, target = pipeline_identity(destination, dataset, duckdb_path)
    client = make_client(settings.api, max_connections=32)
    with run_lock(pipeline_name, pipelines_dir), _writer_turn(destination, duckdb_path), client:
        _probe(client)
        pipeline = open_pipeline(pipeline_name, target, dataset, pipelines_dir)
        restore_state(pipeline)
        summary = LoadSummary(destination, dataset, pipeline.pipeline_name)
        with _progress(progress, stats, client):
            regular_start: datetime | None = None
            if since_at is not None:
                window = (since_at, until_at or datetime.now(UTC))
                outcomes = backfill(
                    pipeline, client, settings, stats, window, full_refresh, destination
                )
                for outcome in outcomes:
                    summary.add(outcome)
                summary.backfill_windows = len(outcomes)
                full_refresh = False
                if until_at is not None:
                    selected = [name for name in selected if name != "responses"]
                regular_start = window[1]
            if selected:
                source = make_source(
                    client, settings, stats, reconcile=reconcile, start=regular_start
                )
                summary.add(load_source(pipeline, source, selected, destination, full_refresh))
            if reconcile and "contacts" in selected and summary.load_ids:
                _add(summary.deleted, delete_unseen_contacts(pipeline, summary.load_ids[-1]))
            for resource in extra_resources:
                summary.load_ids.extend(pipeline.run(resource).loads_ids)
        summary.rows = _count_rows(pipeline, summary.load_ids)
        summary.requests = client.stats.requests
        summary.cursors = _cursors(pipeline)
    summary.missing_cursor = dict(stats.missing_cursor)
    for table, count in summary.missing_cursor.items():
        logger.warning("%s: %d records had no cursor value; loaded without moving it", table, count)
    summary.duration_seconds = time.monotonic() - started
    return summary


def _probe(client: RefinerClient) -> None:
    """GET / before the warehouse is touched: a wrong key or an unreachable API fails here.

    Its error says how many attempts failed, so the client's per-retry warnings are held back
    (they still show with --debug)."""
    client_logger = logging.getLogger("sources.refiner.client")
    quiet = _BelowError()
    if not client_logger.isEnabledFor(logging.DEBUG):
        client_logger.addFilter(quiet)
    try:
        client.verify()
    finally:
        client_logger.removeFilter(quiet)


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def _select_resources(resources: Sequence[str] | None) -> list[str]:
    if not resources:
        return list(RESOURCE_NAMES)
    names = [name.strip() for name in resources if name.strip()]
    unknown = sorted(set(names) - set(RESOURCE_NAMES))
    if unknown:
        raise ConfigError(
            f"--resources: unknown {', '.join(unknown)}; choose from {', '.join(RESOURCE_NAMES)}"
        )
    return [name for name in RESOURCE_NAMES if name in names]


def _parse_bound(option: str, value: date | datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date; use YYYY-MM-DD or an ISO 8601 date-time"
        ) from None


def _writer_turn(destination: str, duckdb_path: str | Path | None) -> AbstractContextManager[None]:
    """DuckDB: wait for the file's writer lock, which `refiner listen` takes only to flush."""
    if destination != "duckdb":
        return nullcontext()
    return writer_turn(duckdb_file(duckdb_path))


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for table, count in counts.items():
        totals[table] = totals.get(table, 0) + count


def _count_rows(pipeline: Pipeline, load_ids: Sequence[str]) -> dict[str, int]:
    """Rows per data table that carry one of `load_ids`, counted in the destination."""
    if not load_ids:
        return {}
    known = [t for tables in TABLES_BY_RESOURCE.values() for t in tables]
    existing = existing_tables(pipeline)
    placeholders = ", ".join(["%s"] * len(load_ids))
    counts: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in known:
            if table not in existing:
                continue
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql(
                f"select count(*) from {qualified} where _dlt_load_id in ({placeholders})",
                *load_ids,
            )
            counts[table] = int(rows[0][0]) if rows else 0
    return counts


def _cursors(pipeline: Pipeline) -> dict[str, Any]:
    resources = pipeline.state.get("sources", {}).get("refiner", {}).get("resources", {})
    cursors: dict[str, Any] = {}
    for resource in ("responses", "contacts"):
        for column, incremental in resources.get(resource, {}).get("incremental", {}).items():
            if incremental.get("last_value") is not None:
                cursors[f"{resource}.{column}"] = incremental["last_value"]
    last_day = resources.get("reporting", {}).get("last_day")
    if last_day:
        cursors["reporting.last_day"] = last_day
    return cursors


class _progress:
    """Calls `callback` from a background thread while a load runs."""

    def __init__(
        self, callback: ProgressCallback | None, stats: RunStats, client: RefinerClient
    ) -> None:
        self._callback = callback
        self._stats = stats
        self._client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _progress:
        if self._callback is not None:
            self._thread = threading.Thread(target=self._tick, daemon=True, name="load-progress")
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _tick(self) -> None:
        assert self._callback is not None
        while not self._stop.wait(0.5):
            self._callback("loading", self._stats, self._client.stats.requests)
