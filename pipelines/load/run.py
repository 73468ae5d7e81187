"""`run_load`: Refiner into a warehouse with the `refiner` dlt source.

One call is one `refiner load`: check the key (so a wrong key or an unreachable API fails
before the warehouse is touched), run the dlt pipeline, remove stale child rows, optionally
apply reconcile deletions, and count what this load wrote, in the destination itself.

- DuckDB gets parquet load files, skipping dlt's per-row normalizer since the source yields
  Arrow tables; PostgreSQL gets insert_values (see LOADER_FILE_FORMATS), with U+0000, which it
  cannot store, replaced by U+FFFD.
- `since`/`until` backfill responses in windows of BACKFILL_WINDOW_DAYS, one dlt load per
  window. The source records the end of each finished window in its state, committed with
  that window's data, so a rerun of the same command resumes at the failed window. Without
  `until` the backfill runs to now and the ordinary incremental run continues from there; with
  `until` the responses cursor is left alone.
- A child row (attribute, segment membership, answer) whose parent was reloaded without it
  is deleted after each load.
- `reconcile` sweeps all contacts; contacts not seen by the sweep are gone from Refiner and
  are deleted with their attributes, segments, responses and answers, as Refiner does. Run
  it nightly (or weekly): it reads every contact, while ordinary runs read only recent ones.
- The pipeline name includes a digest of the destination and dataset, so loads into two
  warehouses never share state; the state itself is restored from the destination when the
  local pipeline folder is gone.
- One run at a time per pipeline: a second `refiner load` on the same pipeline is refused at
  once (LoadInProgressError) and touches nothing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence, Set
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.config import ApiSettings, make_client, resolve_api_settings
from pipelines.defaults import DEFAULT_DATASET, DEFAULT_DUCKDB_PATH
from pipelines.errors import ConfigError, LoadInProgressError
from pipelines.warehouse_lock import duckdb_file, writer_turn

if TYPE_CHECKING:
    from dlt import Pipeline

    from sources.refiner import RunStats
    from sources.refiner.client import RefinerClient

logger = logging.getLogger(__name__)

BACKFILL_WINDOW_DAYS = 30
PIPELINE_PREFIX = "refiner"
LOADER_FILE_FORMATS = {"duckdb": "parquet", "postgres": "insert_values"}
"""parquet skips dlt's per-row work on DuckDB. For Arrow items dlt would pick csv on PostgreSQL,
whose COPY reads an empty string as NULL. Other destinations get dlt's choice."""
DUCKDB_SETTINGS = {"memory_limit": "512MB", "preserve_insertion_order": False}
"""DuckDB holds a merge of a large load in memory up to its default limit (80% of RAM); with
this limit it spills to a temporary folder beside the file instead, and without insertion
order it need not buffer rows to keep it. Peak memory then stays flat as loads grow."""
_EXPECTED_NOTICES = (
    # JSON columns arrive as text for their `json` hint, by design.
    "when merging arrow schema with dlt schema",
    # insert_values on PostgreSQL is chosen on purpose (see LOADER_FILE_FORMATS).
    "A ArrowToInsertValuesWriter writer is used",
)


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


ProgressCallback = Callable[[str, "RunStats", int], None]
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
) -> LoadSummary:
    """Load Refiner into `destination`/`dataset` and return what this load did.

    `resources` selects among contacts, forms, responses, segments, reporting, account_usage
    (all by default). `since`/`until` backfill responses in date windows (dates or ISO
    date-times, UTC); `reconcile` sweeps contacts and deletes what Refiner no longer has;
    `full_refresh` drops this source's tables and state first. DuckDB writes to `duckdb_path`
    (else DESTINATION__DUCKDB__CREDENTIALS, else ./refiner.duckdb). Other destinations take
    their credentials from dlt config, e.g. DESTINATION__POSTGRES__CREDENTIALS.

    Raises ConfigError for bad arguments before any request, LoadInProgressError when another
    run holds this pipeline, the client's AuthError / TransportError / ... when Refiner fails,
    and dlt's errors when the warehouse fails.
    """
    started = time.monotonic()
    selected = _select_resources(resources)
    since_at = _parse_bound("--since", since)
    until_at = _parse_bound("--until", until)
    if until_at is not None and since_at is None:
        raise ConfigError("--until needs --since: give the start of the backfill too")
    if since_at is not None and until_at is not None and until_at <= since_at:
        raise ConfigError("--until must be later than --since")
    if since_at is not None and "responses" not in selected:
        raise ConfigError("--since backfills responses; include responses in --resources")

    settings = resolve_api_settings(api_key, base_url)
    from sources.refiner import RunStats

    stats = RunStats()
    pipeline_name, target = _pipeline_identity(destination, dataset, duckdb_path)
    client = make_client(settings, max_connections=32)
    with _run_lock(pipeline_name, pipelines_dir), _writer_turn(destination, duckdb_path), client:
        _probe(client)
        pipeline = _pipeline(pipeline_name, target, dataset, pipelines_dir)
        summary = LoadSummary(destination, dataset, pipeline.pipeline_name)
        with _progress(progress, stats, client):
            regular_start: datetime | None = None
            if since_at is not None:
                backfill_end = until_at or datetime.now(UTC)
                summary.backfill_windows = _backfill(
                    pipeline, client, settings, stats, since_at, backfill_end, full_refresh, summary
                )
                full_refresh = False
                if until_at is not None:
                    selected = [name for name in selected if name != "responses"]
                regular_start = backfill_end
            if selected:
                source = _source(client, settings, stats, reconcile=reconcile, start=regular_start)
                _run(pipeline, source, selected, full_refresh, summary)
            if reconcile and "contacts" in selected and summary.load_ids:
                _add(summary.deleted, _delete_unseen_contacts(pipeline, summary.load_ids[-1]))
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
    from sources.refiner import RESOURCE_NAMES

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
    from sources.refiner.timestamps import parse_timestamp

    try:
        return parse_timestamp(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date; use YYYY-MM-DD or an ISO 8601 date-time"
        ) from None


def _pipeline_identity(
    destination: str, dataset: str, duckdb_path: str | Path | None
) -> tuple[str, Any]:
    """The pipeline name and the dlt destination: the name includes a digest of where the
    data goes, so loads into two warehouses never share state."""
    import dlt

    if destination == "duckdb":
        configured = duckdb_path or dlt.config.get("destination.duckdb.credentials")
        location = str(Path(str(configured or DEFAULT_DUCKDB_PATH)).resolve())
        target: Any = dlt.destinations.duckdb(credentials=_duckdb_credentials(location))
    else:
        target = destination
        location = _credentials_identity(destination)
    digest = hashlib.sha1(f"{destination}|{location}|{dataset}".encode()).hexdigest()[:10]
    return f"{PIPELINE_PREFIX}_{destination}_{digest}", target


def _duckdb_credentials(location: str) -> Any:
    """Credentials for the DuckDB file at `location`, with DUCKDB_SETTINGS applied."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    credentials = DuckDbCredentials(location)
    credentials.global_config = dict(DUCKDB_SETTINGS)
    return credentials


def _writer_turn(destination: str, duckdb_path: str | Path | None) -> AbstractContextManager[None]:
    """DuckDB: wait for the file's writer lock, which `refiner listen` takes only to flush."""
    if destination != "duckdb":
        return nullcontext()
    return writer_turn(duckdb_file(duckdb_path))


@contextmanager
def _run_lock(pipeline_name: str, pipelines_dir: str | Path | None) -> Iterator[None]:
    """Hold an exclusive lock on `pipeline_name` for one run; refuse at once if it is held.

    Two runs on one pipeline would share its working folder (each normalizing or deleting the
    other's packages) and its warehouse. The lock file sits beside the working folder, not in
    it, because dlt wipes a working folder that has no state yet. flock is released by the
    kernel when the process dies, so a killed run never leaves a stale lock."""
    import fcntl

    from dlt.common.pipeline import get_dlt_pipelines_dir

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


def _pipeline(
    pipeline_name: str, target: Any, dataset: str, pipelines_dir: str | Path | None
) -> Pipeline:
    import dlt

    quiet_expected_notices()
    options: dict[str, Any] = {"pipelines_dir": str(pipelines_dir)} if pipelines_dir else {}
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name, destination=target, dataset_name=dataset, **options
    )
    if pipeline.destination.destination_type.endswith(".duckdb"):
        _prepare_duckdb_load_steps(pipeline)
    return pipeline


def _prepare_duckdb_load_steps(pipeline: Pipeline) -> None:
    """Start each load step of `pipeline` with freed memory returned and one connection held.

    Memory: see `_release_freed_memory`.

    Connection: dlt's load jobs borrow connections from one pool, which closes the file when
    the last job returns its connection, and DuckDB checkpoints on that close. That came
    before dlt truncated the staging tables (`truncate_staging_dataset` in .dlt/config.toml),
    so the checkpoint also wrote the staging copy of every row: 1.6 to 1.8 s on a first load
    of 100k responses. Held open, the file is checkpointed once, after the truncation: about
    0.85 s. The connection is taken when the load step starts, not before, so the file stays
    free while the run extracts. When it cannot be taken, the load step runs as before and
    reports the warehouse's error itself."""
    from dlt.common.destination.exceptions import DestinationTransientException

    load = pipeline.load

    @functools.wraps(load)
    def prepared_load(*args: Any, **kwargs: Any) -> Any:
        _release_freed_memory()
        held = pipeline.sql_client()
        try:
            held.open_connection()
        except DestinationTransientException:
            return load(*args, **kwargs)
        try:
            return load(*args, **kwargs)
        finally:
            held.close_connection()

    pipeline.load = prepared_load  # type: ignore[method-assign]


def _release_freed_memory() -> None:
    """Return to the system the memory that the extract step freed but its allocators kept.

    pyarrow's memory pool (mimalloc) and glibc's malloc keep freed pages for reuse, and DuckDB
    allocates through its own allocator, so those pages would sit beside DuckDB's up to its
    memory limit. In a first load of 1M responses the load step started at 418-476 MB and
    then 336 MB, and the run's peak fell from 936 to 878 MB. malloc_trim exists only in glibc;
    elsewhere only pyarrow's pool is released."""
    import ctypes
    import sys

    import pyarrow

    pyarrow.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
        if trim is not None:
            trim(0)


def _credentials_identity(destination: str) -> str:
    """A password-free description of where `destination` writes, for the pipeline name."""
    from urllib.parse import urlsplit

    import dlt

    credentials: Any = dlt.secrets.get(f"destination.{destination}.credentials")
    if isinstance(credentials, str):
        parts = urlsplit(credentials)
        return f"{parts.scheme}://{parts.username}@{parts.hostname}:{parts.port}{parts.path}"
    if isinstance(credentials, dict):
        names = ("host", "port", "database", "username")
        return "/".join(str(credentials.get(name, "")) for name in names)
    return ""


def _source(
    client: RefinerClient,
    settings: ApiSettings,
    stats: RunStats,
    *,
    reconcile: bool = False,
    start: datetime | None = None,
    window: tuple[datetime, datetime] | None = None,
    backfill_since: datetime | None = None,
) -> Any:
    """The source on the shared client. `start` replaces the configured start_date (used only
    while responses have no cursor yet); `window` makes responses one backfill window."""
    from sources.refiner import refiner

    options: dict[str, Any] = {"start_date": start.isoformat()} if start else {}
    if window is not None:
        options.update(
            responses_since=window[0], responses_until=window[1], backfill_since=backfill_since
        )
    return refiner(
        api_key=settings.api_key,
        base_url=settings.base_url,
        client=client,
        stats=stats,
        reconcile=reconcile,
        **options,
    )


def _run(
    pipeline: Pipeline,
    source: Any,
    selected: Sequence[str],
    full_refresh: bool,
    summary: LoadSummary,
) -> None:
    """One dlt run of the selected resources, then the removal of stale child rows."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    from sources.refiner import TABLES_BY_RESOURCE

    _enable_dlt_columns()
    options: dict[str, Any] = {"refresh": "drop_sources"} if full_refresh else {}
    source = source.with_resources(*selected)
    file_format = LOADER_FILE_FORMATS.get(summary.destination)
    for name, resource in source.selected_resources.items():
        if file_format is not None:
            # run(loader_file_format=...) would reach the resource's root table only.
            for table in TABLES_BY_RESOURCE[name]:
                resource.apply_hints(
                    table_name=table, create_table_variant=table != name, file_format=file_format
                )
        if summary.destination == "postgres":
            resource.add_map(postgres_safe_text)
    _drop_committed_extracted_packages(pipeline)
    try:
        info = pipeline.run(source, **options)
    except PipelineStepFailed as failed:
        raise _root_cause(failed) from None
    info.raise_on_failed_jobs()
    summary.load_ids.extend(info.loads_ids)
    written = {
        job.job_file_info.table_name
        for package in info.load_packages
        for job in package.jobs["completed_jobs"]
    }
    if info.loads_ids:
        _add(summary.deleted, _delete_stale_children(pipeline, info.loads_ids, written))


def _drop_committed_extracted_packages(pipeline: Pipeline) -> None:
    """Delete extracted packages that dlt already committed to its load storage.

    dlt commits a normalized package by renaming load/new/<id> to load/normalized/<id> and only
    then deleting normalize/extracted/<id>. A run killed between the two leaves both; every
    later run would normalize the extracted copy again and fail renaming it onto the committed
    one ("Directory not empty"). The committed copy is complete, so the extracted one goes.
    load/new/<id> alone is not a commit: it is normalization in progress, which dlt redoes
    from the extracted copy."""
    # dlt's own storages, so the folder layout is dlt's, not guessed here.
    extracted = pipeline._get_normalize_storage().extracted_packages
    if not extracted.storage.has_folder("."):
        return
    load_storage = pipeline._get_load_storage()
    committed = (load_storage.normalized_packages, load_storage.loaded_packages)
    for load_id in extracted.list_packages():
        for packages in committed:
            if packages.storage.has_folder(packages.get_package_path(load_id)):
                logger.warning(
                    "load package %s is already in %s: deleting its extracted copy, left by a "
                    "run stopped while dlt committed it",
                    load_id,
                    packages.storage.storage_path,
                )
                extracted.delete_package(load_id)
                break


def _root_cause(failed: BaseException) -> BaseException:
    """The Refiner or warehouse error under dlt's step wrappers, so the CLI maps exit codes."""
    from sources.refiner.errors import RefinerError

    error: BaseException | None = failed
    while error is not None:
        if isinstance(error, RefinerError | ConfigError):
            return error
        error = error.__cause__ or error.__context__
    return failed


def _backfill(
    pipeline: Pipeline,
    client: RefinerClient,
    settings: ApiSettings,
    stats: RunStats,
    since: datetime,
    end: datetime,
    full_refresh: bool,
    summary: LoadSummary,
) -> int:
    """Load responses window by window; resume after the last window a previous run of the
    same backfill (same `since`) finished. Returns the number of windows loaded."""
    from sources.refiner.windows import split_days

    windows = split_days(since, end, BACKFILL_WINDOW_DAYS)
    if not full_refresh:
        pipeline.sync_destination()
        through = _backfill_through(pipeline, since)
        if through in {stop for _, stop in windows}:
            windows = [window for window in windows if window[1] > through]
    for index, window in enumerate(windows):
        source = _source(client, settings, stats, window=window, backfill_since=since)
        _run(pipeline, source, ["responses"], full_refresh and index == 0, summary)
    return len(windows)


def _backfill_through(pipeline: Pipeline, since: datetime) -> datetime | None:
    """End of the last window of the backfill from `since` whose data was loaded (the source
    saves it in its state, committed with that window's data)."""
    sources = pipeline.state.get("sources", {})
    record = sources.get("refiner", {}).get("backfill") or {}
    if not isinstance(record, dict) or record.get("since") != since.isoformat():
        return None
    through = record.get("through")
    return datetime.fromisoformat(through) if isinstance(through, str) else None


def _delete_stale_children(
    pipeline: Pipeline, load_ids: Sequence[str], written: Set[str]
) -> dict[str, int]:
    """Delete child rows whose parent was reloaded by `load_ids` without them (only parent
    tables in `written`, the tables those loads wrote, can have any).

    delete-insert on the parent key replaces a reloaded parent's children only when it has at
    least one new child; a contact that lost every attribute or segment, or a response whose
    data became empty, would keep its old rows. Children written with their parent carry the
    parent's `_dlt_load_id`, so any other load id under a parent of this load is stale.
    A run killed between its load and this step leaves such rows until the parent's next load.
    """
    from sources.refiner import CHILD_TABLES

    existing = _existing_tables(pipeline)
    placeholders = ", ".join(["%s"] * len(load_ids))
    deleted: dict[str, int] = {}
    with pipeline.sql_client() as client, client.begin_transaction():
        for child, (parent, key) in CHILD_TABLES.items():
            if child not in existing or parent not in existing or parent not in written:
                continue
            child_table = client.make_qualified_table_name(child)
            parent_table = client.make_qualified_table_name(parent)
            stale = (
                f"from {child_table} c where exists (select 1 from {parent_table} p"
                f" where p.uuid = c.{key} and p._dlt_load_id in ({placeholders})"
                " and p._dlt_load_id <> c._dlt_load_id)"
            )
            rows = client.execute_sql(f"select count(*) {stale}", *load_ids)
            count = int(rows[0][0]) if rows else 0
            if count:
                client.execute_sql(f"delete {stale}", *load_ids)
                deleted[child] = count
    return deleted


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for table, count in counts.items():
        totals[table] = totals.get(table, 0) + count


def postgres_safe_text(item: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold U+0000: it becomes U+FFFD (in JSON, its escape)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(item, pa.Table):
        return item
    for index, column in enumerate(item.columns):
        if not pa.types.is_string(column.type):
            continue
        found = pc.or_(pc.match_substring(column, "\x00"), pc.match_substring(column, "\\u0000"))
        if pc.any(found).as_py():
            cleaned = pc.replace_substring(column, "\x00", "\ufffd")
            cleaned = pc.replace_substring(cleaned, "\\u0000", "\\ufffd")
            item = item.set_column(index, item.field(index), cleaned)
    return item


def _delete_unseen_contacts(pipeline: Pipeline, load_id: str) -> dict[str, int]:
    """After a full contacts sweep: delete contacts the sweep did not see, and their data."""
    deleted: dict[str, int] = {}
    with pipeline.sql_client() as client:
        contacts = client.make_qualified_table_name("contacts")
        gone = f"select uuid from {contacts} where _dlt_load_id <> %s"
        responses = client.make_qualified_table_name("responses")
        statements = {
            "response_answers": (
                "response_uuid in (select uuid from {responses} where contact_uuid in ({gone}))"
                " or contact_uuid in ({gone})"
            ),
            "responses": "contact_uuid in ({gone})",
            "contact_attributes": "contact_uuid in ({gone})",
            "contact_segments": "contact_uuid in ({gone})",
            "contacts": "_dlt_load_id <> %s",
        }
        existing = _existing_tables(pipeline)
        with client.begin_transaction():
            for table, condition in statements.items():
                if table not in existing:
                    continue
                where = condition.format(responses=responses, gone=gone)
                params = [load_id] * where.count("%s")
                qualified = client.make_qualified_table_name(table)
                rows = client.execute_sql(
                    f"select count(*) from {qualified} where {where}", *params
                )
                deleted[table] = int(rows[0][0]) if rows else 0
                if deleted[table]:
                    client.execute_sql(f"delete from {qualified} where {where}", *params)
    return deleted


def _existing_tables(pipeline: Pipeline) -> set[str]:
    schema = pipeline.default_schema
    return {name for name, table in schema.tables.items() if table.get("columns")}


def _count_rows(pipeline: Pipeline, load_ids: Sequence[str]) -> dict[str, int]:
    """Rows per data table that carry one of `load_ids`, counted in the destination."""
    if not load_ids:
        return {}
    from sources.refiner import TABLES_BY_RESOURCE

    known = [t for tables in TABLES_BY_RESOURCE.values() for t in tables]
    existing = _existing_tables(pipeline)
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


def _enable_dlt_columns() -> None:
    """Arrow tables get `_dlt_load_id`, added while extracting (the warehouse contract).

    No `_dlt_id`: every table has a primary key, and a random row id would make dlt's
    normalize step rewrite every parquet file instead of moving it into the load package.
    """
    import dlt

    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = False


def quiet_expected_notices() -> None:
    """Drop dlt warnings about choices made here on purpose (_EXPECTED_NOTICES)."""
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _DropExpectedNotices) for f in dlt_logger.filters):
        dlt_logger.addFilter(_DropExpectedNotices())


class _DropExpectedNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(notice in message for notice in _EXPECTED_NOTICES)


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
