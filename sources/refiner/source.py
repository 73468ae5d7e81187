"""The `refiner` dlt source: Refiner survey data as typed, incrementally loaded tables.

The tables it writes, their grains, keys and write dispositions are in sources/refiner/schema.py.

Incremental loading:
- `responses` follows `last_data_reception_at` (with `include="all"`: `last_shown_at`, the field
  Refiner then filters on) with a `lag` of `lookback_hours`; each run asks Refiner only for
  `date_range_start` >= cursor - lookback. A range longer than a day (the first load) is
  cut at UTC midnights into windows of similar size by Refiner's `items_count` (one small
  request per split), fetched concurrently (`max_workers`). Changing `include` to or from
  "all" switches the cursor field, so the next run starts again from `start_date` (merge
  keeps it duplicate-free).
- `contacts` are read newest `last_seen_at` first and paging stops once a page reaches past
  cursor - lookback, so a frequent run does not sweep every contact. `reconcile=True` sweeps
  all of them (see pipelines/load/run.py for the deletions that follow a sweep).
- `reporting` keeps the last loaded day in resource state and re-fetches the last
  `reporting_refetch_days` days each run (`reporting_days` on the first run).
Records without their cursor value are loaded, counted and logged; they never move a cursor.
Rows read again (the lookback, forms, segments, reporting's re-fetch days) that an earlier run
loaded unchanged are skipped with their child rows (sources/refiner/unchanged.py), so a run
with nothing new writes only its account_usage snapshot.

Pages become Arrow tables (sources/refiner/reshape.py) so dlt skips its per-row normalizer;
how each resource walks the API is in sources/refiner/walks.py, how pages become dlt items in
sources/refiner/batches.py. Building the source does no I/O; requests start when the resources
are iterated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
import msgspec
import pyarrow as pa
from dlt.extract.incremental import Incremental
from dlt.sources import DltResource

from sources.refiner.batches import Batch, add_contacts, add_responses, nonempty, with_children
from sources.refiner.client import RefinerClient
from sources.refiner.errors import ValidationError
from sources.refiner.reshape import (
    ResponseTables,
    reshape_account_usage,
    reshape_forms,
    reshape_segments,
)
from sources.refiner.reshape_pool import (
    ReshapePool,
    decode_contacts,
    decode_responses,
    default_processes,
)
from sources.refiner.schema import (
    BUILT_FROM_PARENT_ROW,
    CHILD_TABLES,
    HINTS,
    JSON,
    NEWEST,
    columns,
    primary_key,
)
from sources.refiner.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_INCLUDE,
    DEFAULT_LOOKBACK_HOURS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_REPORT_TYPES,
    DEFAULT_REPORTING_DAYS,
    DEFAULT_REPORTING_REFETCH_DAYS,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_RESHAPE_IN_PROCESSES_FROM,
    DEFAULT_RESHAPE_PROCESSES,
    DEFAULT_START_DATE,
    DEFAULT_TIMEOUT_SECONDS,
    INCLUDE_VALUES,
    MAX_PAGE_LENGTH,
    REPORT_TYPES,
)
from sources.refiner.timestamps import parse_timestamp
from sources.refiner.unchanged import LoadedRows
from sources.refiner.walks import (
    Walk,
    contact_tables,
    form_uuids,
    report_days,
    report_walks,
    response_windows,
    window_walks,
)
from sources.refiner.windows import concurrent_pages

# Declared defaults mark the cursor parameters for dlt; the source passes configured ones.
_CONTACTS_CURSOR = dlt.sources.incremental[datetime]("last_seen_at")
_RESPONSES_CURSOR = dlt.sources.incremental[datetime]("last_data_reception_at")
_CURSOR_BY_INCLUDE = {"all": "last_shown_at"}
"""The field Refiner's `date_range_start` compares, per `include`; last_data_reception_at
otherwise (refiner-api.md §3.7)."""
REPORT_ROWS = 500
"""Report rows checked against the loaded ones and handed to dlt at a time."""


@dataclass
class RunStats:
    """Counts gathered while the resources run; read them after `pipeline.run`."""

    missing_cursor: dict[str, int] = field(default_factory=dict)
    """Records per table that arrived without their incremental cursor value."""
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per table handed to dlt so far (before dlt's incremental filter); for progress."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_rows(self, table: str, count: int) -> None:
        with self._lock:
            self.rows[table] = self.rows.get(table, 0) + count

    def count_missing(self, table: str, count: int) -> None:
        if count:
            with self._lock:
                self.missing_cursor[table] = self.missing_cursor.get(table, 0) + count


@dataclass(frozen=True)
class _Settings:
    page_length: int
    include: str
    lookback: timedelta
    with_attributes: bool
    reporting_types: tuple[str, ...]
    reporting_days: int
    reporting_refetch_days: int
    max_workers: int
    reshape_processes: int
    reshape_in_processes_from: int


@dlt.source(name="refiner", max_table_nesting=0)
def refiner(
    api_key: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    start_date: str = DEFAULT_START_DATE,
    page_length: int = MAX_PAGE_LENGTH,
    include: str = DEFAULT_INCLUDE,
    lookback_hours: float = DEFAULT_LOOKBACK_HOURS,
    with_attributes: bool = False,
    reporting_types: Sequence[str] = DEFAULT_REPORT_TYPES,
    reporting_days: int = DEFAULT_REPORTING_DAYS,
    reporting_refetch_days: int = DEFAULT_REPORTING_REFETCH_DAYS,
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_workers: int = DEFAULT_MAX_WORKERS,
    reshape_processes: int = DEFAULT_RESHAPE_PROCESSES,
    reshape_in_processes_from: int = DEFAULT_RESHAPE_IN_PROCESSES_FROM,
    reconcile: bool = False,
    responses_since: datetime | None = None,
    responses_until: datetime | None = None,
    backfill_since: datetime | None = None,
    client: Any = None,
    stats: Any = None,
) -> Sequence[DltResource]:
    """Refiner's contacts, forms, responses, segments, reports and account usage.

    Settings come from `[sources.refiner]` in .dlt/config.toml (or SOURCES__REFINER__* env
    vars); the key from .dlt/secrets.toml or SOURCES__REFINER__API_KEY. `reconcile` makes
    `contacts` a full sweep. A walk over at least `reshape_in_processes_from` responses or
    contacts parses its pages in a pool of `reshape_processes` worker processes that contacts
    and responses share (0: two per core but one, see sources/refiner/reshape_pool.py).
    `responses_since` and `responses_until` load one backfill window of responses without
    touching the responses cursor; when it is done, source state `backfill` records
    `{"since": backfill_since, "through": responses_until}` (committed with the window's data).
    `client` (a RefinerClient) and `stats` (a RunStats) let a caller share the HTTP client and
    read counts after the run; a given client is used as it is, so `api_key` to
    `timeout_seconds` configure only the client built when none is given. `refiner load`
    resolves every setting once (pipelines/config.py) and passes all of them, the client's
    included. Raises ValidationError for a bad setting.
    """
    settings = _Settings(
        page_length=page_length,
        include=_choice("include", include, INCLUDE_VALUES),
        lookback=timedelta(hours=float(lookback_hours)),
        with_attributes=bool(with_attributes),
        reporting_types=tuple(_choice("reporting_types", t, REPORT_TYPES) for t in reporting_types),
        reporting_days=max(1, int(reporting_days)),
        reporting_refetch_days=max(1, int(reporting_refetch_days)),
        max_workers=max(1, int(max_workers)),
        reshape_processes=int(reshape_processes) if reshape_processes else default_processes(),
        reshape_in_processes_from=int(reshape_in_processes_from),
    )
    start = _start_date(start_date)
    api = client or RefinerClient(
        api_key,
        base_url,
        timeout=timeout_seconds,
        max_attempts=max_attempts,
        requests_per_minute=requests_per_minute,
        max_connections=max(16, 2 * settings.max_workers),
    )
    run_stats = stats if isinstance(stats, RunStats) else RunStats()
    pool = ReshapePool(settings.reshape_processes)
    lag = settings.lookback.total_seconds()
    cursor_path = _CURSOR_BY_INCLUDE.get(settings.include, "last_data_reception_at")
    if responses_since is not None:
        response_cursor = dlt.sources.incremental[datetime](
            cursor_path,
            initial_value=responses_since,
            end_value=responses_until,
            on_cursor_value_missing="include",
            primary_key=(),
        )
    else:
        response_cursor = dlt.sources.incremental[datetime](
            cursor_path,
            initial_value=start,
            lag=lag,
            on_cursor_value_missing="include",
            primary_key=(),
        )
    if reconcile:
        contacts = dlt.resource(_all_contacts, **HINTS["contacts"])(api, settings, run_stats, pool)
    else:
        contacts = dlt.resource(_contacts, **HINTS["contacts"])(
            api,
            settings,
            run_stats,
            pool,
            last_seen_at=dlt.sources.incremental[datetime](
                "last_seen_at", lag=lag, on_cursor_value_missing="include", primary_key=()
            ),
        )
    backfill = (
        {"since": _as_utc(backfill_since or responses_since).isoformat()}
        if responses_since is not None
        else None
    )
    responses = dlt.resource(_responses, **HINTS["responses"])(
        api, settings, run_stats, pool, backfill, cursor=response_cursor
    )
    responses.apply_hints(columns=columns(**{cursor_path: NEWEST}))
    if settings.with_attributes:
        responses.apply_hints(columns=columns(contact_attributes=JSON))
    return (
        with_children(contacts, "contacts", "last_seen_at"),
        dlt.resource(_forms, **HINTS["forms"])(api, settings),
        with_children(responses, "responses", cursor_path),
        dlt.resource(_segments, **HINTS["segments"])(api, settings),
        dlt.resource(_reporting, **HINTS["reporting"])(api, settings),
        with_children(
            dlt.resource(_account_usage, **HINTS["account_usage"])(api), "account_usage", None
        ),
    )


def _contacts(
    client: RefinerClient,
    settings: _Settings,
    stats: RunStats,
    pool: ReshapePool,
    last_seen_at: Incremental[datetime] = _CONTACTS_CURSOR,
) -> Iterator[Any]:
    """Contacts newest `last_seen_at` first, with their attributes and segments.

    Stops after the page that reaches past the cursor - lookback (dlt's `start_value`).
    Contacts that an earlier run loaded unchanged are skipped (sources/refiner/unchanged.py).
    """
    loaded = _loaded_rows("contacts", "last_seen_at", settings.lookback)
    yield from _contact_pages(client, settings, stats, pool, last_seen_at.start_value, loaded)
    loaded.save()


def _all_contacts(
    client: RefinerClient, settings: _Settings, stats: RunStats, pool: ReshapePool
) -> Iterator[Any]:
    """Every contact (the --reconcile sweep), each loaded again; the contacts cursor is left
    as it is."""
    yield from _contact_pages(client, settings, stats, pool, None, None)


def _contact_pages(
    client: RefinerClient,
    settings: _Settings,
    stats: RunStats,
    pool: ReshapePool,
    floor: datetime | None,
    loaded: LoadedRows | None,
) -> Iterator[Any]:
    """Contacts down to `floor` (all without one), in batches with their child tables."""
    batch = Batch("contacts", loaded)
    with pool.lease():
        decode = pool.decoder(
            decode_contacts,
            min_items=settings.reshape_in_processes_from,
            stops_early=floor is not None,
        )
        pages = client.iter_decoded_pages(
            "contacts", {"order_by": "last_seen_at"}, decode, page_length=settings.page_length
        )
        for tables in contact_tables(pages, floor):
            stats.count_missing("contacts", tables.missing_cursor)
            stats.count_rows("contacts", tables.contacts.num_rows)
            add_contacts(batch, tables)
            if batch.full:
                yield from batch.drain()
    yield from batch.drain()


def _responses(
    client: RefinerClient,
    settings: _Settings,
    stats: RunStats,
    pool: ReshapePool,
    backfill: dict[str, str] | None,
    cursor: Incremental[datetime] = _RESPONSES_CURSOR,
) -> Iterator[Any]:
    """Responses from cursor - lookback (or one backfill window), windows fetched concurrently.

    Pages are gathered into batches of about BATCH_ROWS responses; each batch yields its
    `responses` and `response_answers`, and the answers carry the cursor column of their
    response through dlt's incremental step (dropped again right after). Responses that an
    earlier run loaded unchanged are skipped (sources/refiner/unchanged.py); a backfill window
    loads every response it reads.
    A finished backfill window records `backfill` plus its end in the source state.
    """
    walks = _response_walks(client, settings, pool, cursor)
    loaded = None if backfill else _loaded_rows("responses", cursor.cursor_path, settings.lookback)
    batch = Batch("responses", loaded)
    with pool.lease():
        for reshaping in concurrent_pages(walks, max_workers=settings.max_workers):
            tables = reshaping.result()
            stats.count_missing("responses", tables.responses[cursor.cursor_path].null_count)
            stats.count_rows("responses", tables.responses.num_rows)
            add_responses(batch, tables, cursor.cursor_path)
            if batch.full:
                yield from batch.drain()
    yield from batch.drain()
    if loaded is not None:
        loaded.save()
    if backfill is not None and cursor.end_value is not None:
        through = _as_utc(cursor.end_value).isoformat()
        dlt.current.source_state()["backfill"] = {**backfill, "through": through}


def _response_walks(
    client: RefinerClient, settings: _Settings, pool: ReshapePool, cursor: Incremental[datetime]
) -> list[Walk[Future[ResponseTables]]]:
    """The concurrent walks over [cursor start, cursor end or now), one per date window; the
    windows are counted (and balanced) now, the pages read when the walks run."""
    start = _as_utc(cursor.start_value) if cursor.start_value is not None else _now()
    end = cursor.end_value
    params = {"include": settings.include, "with_attributes": settings.with_attributes}
    windows, total = response_windows(
        client,
        params,
        start,
        _as_utc(end) if end is not None else _now(),
        page_length=settings.page_length,
        max_workers=settings.max_workers,
    )
    return window_walks(
        client,
        params,
        windows,
        lambda: pool.decoder(
            decode_responses,
            min_items=settings.reshape_in_processes_from,
            total=total,
            with_attributes=settings.with_attributes,
        ),
        open_end=end is None,
        page_length=settings.page_length,
    )


def _forms(client: RefinerClient, settings: _Settings) -> Iterator[pa.Table]:
    """Every survey, archived ones included, with its info and configuration; surveys loaded
    unchanged by an earlier run are skipped."""
    params = {"list": "all_with_archived", "include_info": True, "include_config": True}
    loaded = _loaded_rows("forms")
    for page in client.iter_pages("forms", params, page_length=settings.page_length, paging="page"):
        yield from nonempty(loaded.drop_loaded({"forms": reshape_forms(page.items)})["forms"])
    loaded.save()


def _segments(client: RefinerClient, settings: _Settings) -> Iterator[pa.Table]:
    """Every segment; segments loaded unchanged by an earlier run are skipped."""
    loaded = _loaded_rows("segments")
    for page in client.iter_pages("segments", {}, page_length=settings.page_length):
        yield from nonempty(
            loaded.drop_loaded({"segments": reshape_segments(page.items)})["segments"]
        )
    loaded.save()


def _reporting(client: RefinerClient, settings: _Settings) -> Iterator[list[dict[str, Any]]]:
    """One report per type x form x day, from the last loaded day - refetch window to today.
    Reports loaded unchanged by an earlier run are skipped."""
    state = dlt.current.resource_state()
    loaded = _loaded_rows("reporting")
    today = _now().date()
    days = report_days(
        state.get("last_day"),
        today,
        refetch_days=settings.reporting_refetch_days,
        first_days=settings.reporting_days,
    )
    forms = form_uuids(client, settings.page_length)
    walks = report_walks(client, settings.reporting_types, forms, days)
    batch: list[dict[str, Any]] = []
    for row in concurrent_pages(walks, max_workers=settings.max_workers):
        batch.append(row)
        if len(batch) >= REPORT_ROWS:
            yield from nonempty(loaded.drop_loaded_rows(batch))
            batch = []
    yield from nonempty(loaded.drop_loaded_rows(batch))
    loaded.save()
    state["last_day"] = today.isoformat()


def _account_usage(client: RefinerClient) -> Iterator[Any]:
    """One snapshot of plan, usage and environments, stamped with the time of the run."""
    body = msgspec.to_builtins(client.get_account_info())
    usage, environments = reshape_account_usage(body, _now())
    yield usage
    if environments:
        yield dlt.mark.with_table_name(environments, "account_usage_environments")


def _loaded_rows(
    resource: str, cursor: str | None = None, lag: timedelta = timedelta(0)
) -> LoadedRows:
    """The fingerprints of `resource`'s rows in its resource state (the resource's table has
    the same name, and its primary key)."""
    return LoadedRows(
        dlt.current.resource_state(resource),
        parent=resource,
        key=primary_key(resource),
        cursor=cursor,
        lag=lag,
        children={
            child: key for child, (parent, key) in CHILD_TABLES.items() if parent == resource
        },
        derived=BUILT_FROM_PARENT_ROW,
    )


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValidationError(
            f"sources.refiner.{name} is {value!r}; use one of {', '.join(allowed)}"
        )
    return value


def _start_date(value: str | date | datetime) -> datetime:
    try:
        if isinstance(value, datetime):
            return _as_utc(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return parse_timestamp(str(value))
    except ValueError:
        raise ValidationError(
            f"sources.refiner.start_date is {value!r}; use an ISO date such as 2024-01-01"
        ) from None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)
