"""Reverse sync: push warehouse rows back to Refiner as contact traits or tracked events.

`push-traits` reads one row per contact (the dbt model `contact_traits` by default, or a table,
view or a single SELECT), turns each row into an identify-user payload, and sends only the rows
whose payload differs from the one Refiner last accepted (see `pipelines.sync.state`).

Identifiers. Each row is identified by its id column (`remote_id` by default, sent as `id`) and,
when that is NULL or absent, by its email column (`email`, sent as `email`). Neither column, nor
`contact_uuid`, nor dlt's `_dlt_*` columns become traits.

Value rules (Refiner's identify-user, shared/refiner-api.md §3.2):
- numbers, booleans and strings are sent as they are; Decimal becomes int or float;
- timestamps are sent as ISO 8601 UTC (`2024-05-01T10:00:00Z`; naive values are taken as UTC),
  dates as `YYYY-MM-DD`. Refiner parses a trait as a date only when its key ends in `_at`; a
  temporal trait whose key does not is still sent as the ISO text, and the plan carries a warning
  suggesting `--map col=col_at`, because renaming a user's trait silently would be worse;
- NULL leaves the trait out (`null_mode="skip"`, the default) or sends an empty string
  (`null_mode="clear"`);
- a string over 255 characters, a non-finite number, a list or object value, a missing identifier,
  or an identifier that appears on more than one row makes that row invalid, with the reason;
  the other rows still go.

Sending happens on a thread pool under the client's shared rate limiter; the client retries
transient failures. Outcomes are written to the warehouse in batches by one writer thread while
sending continues; at most 2 x workers rows are ever unrecorded (in flight or awaiting their
write), so a killed run re-sends at most that many rows (16 with the default 8 workers).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from pipelines.config import check_dataset, check_destination
from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET, DEFAULT_DUCKDB_PATH
from pipelines.errors import ConfigError
from pipelines.sync.state import (
    FAILED,
    INVALID,
    SUCCEEDED,
    EventLogEntry,
    LogEntry,
    SyncStore,
)
from pipelines.sync.values import PayloadHasher, convert_column
from pipelines.sync.warehouse import (
    ColumnData,
    Warehouse,
    identifier,
    open_warehouse,
)
from sources.refiner.errors import AuthError, RefinerError, redact
from sources.refiner.settings import MAX_TRAIT_STRING_LENGTH
from sources.refiner.validation import IDENTIFY_RESERVED_KEYS

NullMode = Literal["skip", "clear"]
IdentifierType = Literal["id", "email"]
RowStatus = Literal["new", "changed", "unchanged", "invalid", "skipped"]

DEFAULT_MODEL = "contact_traits"
DEFAULT_ID_COLUMN = "remote_id"
DEFAULT_EMAIL_COLUMN = "email"
EVENT_ID_COLUMNS = ("identifier", "remote_id", "id")
ALWAYS_EXCLUDED = frozenset({"contact_uuid"})
DEFAULT_WORKERS = 8
SAMPLE_SIZE = 5

# sqlglot node keys that write, change the session or leave the statement unparsed.
_FORBIDDEN_NODE_KEYS = frozenset(
    {
        "insert",
        "update",
        "delete",
        "merge",
        "create",
        "drop",
        "alter",
        "command",
        "copy",
        "pragma",
        "transaction",
        "commit",
        "rollback",
        "into",
        "set",
        "use",
        "attach",
        "detach",
        "grant",
        "truncatetable",
        "analyze",
        "describe",
        "loaddata",
    }
)


class ContactWriter(Protocol):
    """The part of `RefinerClient` the reverse sync uses."""

    def update_contact(
        self,
        *,
        id: str | None = None,
        email: str | None = None,
        traits: Mapping[str, Any] | None = None,
        account: Mapping[str, Any] | None = None,
    ) -> Any: ...

    def track_event(
        self, event: str, *, id: str | None = None, email: str | None = None
    ) -> Any: ...


# --- input -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncInput:
    """Where rows come from: a dbt model in the analytics schema, a `schema.table`, or a SELECT."""

    model: str | None = None
    table: str | None = None
    sql: str | None = None

    def resolve(self, analytics_schema: str, warehouse: Warehouse) -> tuple[str, str]:
        """Return (statement to run, default sync name). Names are validated and quoted."""
        given = [value for value in (self.model, self.table, self.sql) if value is not None]
        if len(given) > 1:
            raise ConfigError("Give at most one of --model, --table and --sql.")
        if self.sql is not None:
            return validate_select(self.sql, warehouse.destination), "sql"
        if self.table is not None:
            parts = self.table.split(".")
            if len(parts) != 2:
                raise ConfigError(f"--table must be schema.name, got {self.table!r}.")
            schema, table = (identifier(part, "table name") for part in parts)
            return f"SELECT * FROM {warehouse.qualified(schema, table)}", f"{schema}.{table}"
        model = identifier(self.model or DEFAULT_MODEL, "model name")
        schema = identifier(analytics_schema, "analytics schema")
        return f"SELECT * FROM {warehouse.qualified(schema, model)}", model


def validate_select(sql: str, dialect: str) -> str:
    """Return `sql` if it is exactly one read-only SELECT (or WITH ... SELECT) statement.

    The statement is parsed with sqlglot; anything else (several statements, DML, DDL,
    SELECT INTO, SET, PRAGMA, ATTACH, COPY) raises ConfigError. The text runs unchanged, on a
    read-only connection, so a query sqlglot misjudges still cannot write.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as error:
        raise ConfigError(f"--sql is not valid SQL: {str(error).splitlines()[0]}") from error
    if len(statements) != 1:
        raise ConfigError(f"--sql must be a single SELECT statement, got {len(statements)}.")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ConfigError(f"--sql must be a SELECT statement, got {statement.key.upper()}.")
    for node in statement.walk():
        if node.key in _FORBIDDEN_NODE_KEYS:
            raise ConfigError(f"--sql must only read; it contains {node.key.upper()}.")
    return sql.strip().rstrip(";")


def read_input(warehouse: Warehouse, statement: str) -> ColumnData:
    """Run the input statement; a missing model or table becomes a ConfigError."""
    try:
        return warehouse.read(statement)
    except Exception as error:
        if "does not exist" in str(error) or "not found" in str(error).lower():
            raise ConfigError(
                f"Input not found ({str(error).splitlines()[0]}). Run `refiner transform` to "
                "build the contact_traits model, or pass --table or --sql."
            ) from error
        raise


# --- mapping -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraitMapping:
    """Which column feeds which key. Positions index into the input rows."""

    id_index: int | None
    email_index: int | None
    traits: tuple[tuple[int, str], ...]
    account: tuple[tuple[int, str], ...]

    @property
    def trait_keys(self) -> list[str]:
        return [key for _, key in self.traits]


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    """Parse repeated `left=right` options into a dict."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        left, sep, right = pair.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ConfigError(f"{option} expects column=name, got {pair!r}.")
        parsed[left.strip()] = right.strip()
    return parsed


def resolve_mapping(
    columns: Sequence[str],
    *,
    id_column: str | None = None,
    email_column: str | None = None,
    renames: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
    account_map: Mapping[str, str] | None = None,
) -> TraitMapping:
    """Decide identifier, trait and account columns from the input's column names."""
    renames = dict(renames or {})
    account_map = dict(account_map or {})
    exclude = set(exclude)
    position = {name: index for index, name in enumerate(columns)}
    for name in [*renames, *exclude, *account_map]:
        if name not in position:
            raise ConfigError(
                f"Column {name!r} is not in the input (columns: {', '.join(columns)})."
            )
    id_index = _column_index(position, id_column, DEFAULT_ID_COLUMN, "--id-column")
    email_index = _column_index(position, email_column, DEFAULT_EMAIL_COLUMN, "--email-column")
    if id_index is None and email_index is None:
        raise ConfigError(
            "The input has no identifier column: add `remote_id` or `email`, or pass --id-column."
        )
    if account_map and "id" not in account_map.values():
        raise ConfigError("--account-map must map a column to the account's `id` field.")
    taken = {columns[i] for i in (id_index, email_index) if i is not None}
    taken |= ALWAYS_EXCLUDED | exclude | set(account_map)
    traits: list[tuple[int, str]] = []
    for index, name in enumerate(columns):
        if name in taken or name.startswith("_dlt_"):
            continue
        key = renames.get(name, name)
        if key in IDENTIFY_RESERVED_KEYS:
            raise ConfigError(
                f"Column {name!r} would be sent as the reserved key {key!r}; rename it with "
                f"--map {name}=<trait> or drop it with --exclude {name}."
            )
        traits.append((index, key))
    duplicates = [key for key, count in Counter(k for _, k in traits).items() if count > 1]
    if duplicates:
        raise ConfigError(f"Several columns map to the same trait: {', '.join(duplicates)}.")
    account = tuple((position[column], name) for column, name in account_map.items())
    return TraitMapping(id_index, email_index, tuple(traits), account)


def _column_index(
    position: Mapping[str, int], given: str | None, default: str, option: str
) -> int | None:
    if given is None:
        return position.get(default)
    if given not in position:
        raise ConfigError(f"{option} {given!r} is not a column of the input.")
    return position[given]


# --- payloads and the diff ---------------------------------------------------------------------


@dataclass
class PlannedRow:
    """One input row, turned into a payload (or a reason why it cannot be sent)."""

    identifier_type: IdentifierType
    identifier: str | None
    traits: dict[str, Any]
    account: dict[str, Any] | None
    payload_hash: str | None
    status: RowStatus
    reason: str | None = None

    def payload(self) -> dict[str, Any]:
        """The identify-user body as it will be sent (flat traits, optional account)."""
        body: dict[str, Any] = {self.identifier_type: self.identifier, **self.traits}
        if self.account is not None:
            body["account"] = self.account
        return body


@dataclass
class SyncPlan:
    """What a run would do: rows to send, invalid rows, and counts of the rest."""

    sync_name: str
    to_send: list[PlannedRow] = field(default_factory=list)
    invalid: list[PlannedRow] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)


def _identities(
    data: ColumnData, id_index: int | None, email_index: int | None
) -> list[tuple[IdentifierType, str | None]]:
    """Per row: ("id", remote id) when set, else ("email", email), else (kind, None)."""
    ids = _texts(data, id_index)
    emails = _texts(data, email_index)
    missing: IdentifierType = "id" if id_index is not None else "email"
    return [
        ("id", i) if i is not None else ("email", e) if e is not None else (missing, None)
        for i, e in zip(ids, emails, strict=True)
    ]


def _texts(data: ColumnData, index: int | None) -> list[str | None]:
    if index is None:
        return [None] * data.num_rows
    return [_text(value) for value in data.pylist(index)]


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def plan_traits(
    data: ColumnData,
    mapping: TraitMapping,
    accepted: Mapping[tuple[str, str], str],
    *,
    sync_name: str,
    null_mode: NullMode = "skip",
) -> SyncPlan:
    """Diff the rows against the accepted hashes. Unchanged rows are only counted.

    Payload dicts are built only for rows that will be sent; the diff itself hashes each row's
    converted values (see PayloadHasher).
    """
    plan = SyncPlan(sync_name=sync_name)
    identities = _identities(data, mapping.id_index, mapping.email_index)
    seen = Counter(identity for identity in identities if identity[1] is not None)
    traits = [
        (key, convert_column(key, data.columns[i]))
        for i, key in sorted(mapping.traits, key=lambda pair: pair[1])
    ]
    account = [
        (name, convert_column(f"account.{name}", data.columns[i]))
        for i, name in sorted(mapping.account, key=lambda pair: pair[1])
    ]
    invalid: dict[int, str] = {}
    for _, converted in reversed([*traits, *account]):
        invalid.update(converted.invalid)
    keys = [key for key, _ in traits]
    names = [name for name, _ in account]
    hasher = PayloadHasher(keys, names)
    empty = "" if null_mode == "clear" else None
    trait_rows = _row_tuples([c.values for _, c in traits], data.num_rows, empty)
    account_rows = _row_tuples([c.values for _, c in account], data.num_rows, None)
    account_id = names.index("id") if account else -1
    for row, (kind, value) in enumerate(identities):
        reason = invalid.get(row) if invalid else None
        if value is None:
            reason = "missing identifier (no remote_id or email)"
        elif seen[(kind, value)] > 1:
            reason = f"duplicate identifier: {kind} {value!r} is on {seen[(kind, value)]} rows"
        if reason is not None:
            plan.invalid.append(PlannedRow(kind, value, {}, None, None, "invalid", reason))
            continue
        assert value is not None
        values = trait_rows[row]
        group = account_rows[row]
        if account and group[account_id] is None:
            group = (None,) * len(names)
        if values.count(None) == len(values) and group.count(None) == len(group):
            plan.skipped += 1
            continue
        digest = hasher.digest(kind, value, values, group)
        previous = accepted.get((kind, value))
        if previous == digest:
            plan.unchanged += 1
            continue
        status: RowStatus = "new" if previous is None else "changed"
        payload = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        grouped = None
        if account and group[account_id] is not None:
            grouped = {n: v for n, v in zip(names, group, strict=True) if v is not None}
            grouped["id"] = str(grouped["id"])
        plan.to_send.append(PlannedRow(kind, value, payload, grouped, digest, status))
        if status == "new":
            plan.new += 1
        else:
            plan.changed += 1
    plan.warnings.extend(
        f"trait {key!r} holds dates but its key does not end in `_at`, so Refiner stores it as "
        f"text; rename it with --map {key}={key}_at to get a date trait"
        for key, column in traits
        if column.temporal and not key.endswith("_at")
    )
    return plan


def _row_tuples(
    columns: list[list[Any]], num_rows: int, null_as: str | None
) -> list[tuple[Any, ...]]:
    """Transpose converted columns into per-row tuples, NULL replaced by `null_as`."""
    if null_as is not None:
        columns = [[null_as if v is None else v for v in column] for column in columns]
    return list(zip(*columns, strict=True)) if columns else [()] * num_rows


# --- sending -----------------------------------------------------------------------------------


Item = TypeVar("Item")


@dataclass(frozen=True)
class Outcome:
    """The result of sending one item: None error means Refiner accepted it."""

    item: Any
    error: str | None


def send_bounded(
    items: Sequence[Item],
    send: Callable[[Item], object],
    record: Callable[[list[Outcome]], None],
    *,
    workers: int,
    secrets: Sequence[str | None] = (),
) -> list[Outcome]:
    """Send items on `workers` threads and record finished ones in batches on one writer thread.

    At most `2 * workers` items are unrecorded at any time (in flight, or finished and waiting
    for or in the current write), so a killed run re-sends at most that many. Writing overlaps
    sending, so batches grow with throughput instead of a slow commit pacing every request.
    A RefinerError fails only its item (the client has already retried transient ones). An
    AuthError stops submitting; items in flight finish and are recorded, then it is raised.
    """
    outcomes: list[Outcome] = []
    fatal: BaseException | None = None
    queue = iter(items)
    limit = 2 * max(1, workers)
    finished: list[Outcome] = []
    with (
        ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="reverse-sync") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="reverse-sync-log") as writer,
    ):
        pending: dict[Future[object], Item] = {}
        writing: Future[None] | None = None
        written = 0

        def unrecorded() -> int:
            return len(pending) + len(finished) + (0 if writing is None else written)

        while True:
            while fatal is None and len(pending) < workers and unrecorded() < limit:
                item = next(queue, None)
                if item is None:
                    break
                pending[pool.submit(send, item)] = item
            if writing is not None and writing.done():
                writing.result()
                writing = None
            if finished and writing is None:
                batch, finished = finished, []
                outcomes.extend(batch)
                written = len(batch)
                writing = writer.submit(record, batch)
            if not pending and writing is None and not finished:
                break
            waiting: set[Future[Any]] = set(pending)
            if writing is not None:
                waiting.add(writing)
            done, _ = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                if future is writing:
                    continue
                item = pending.pop(future)
                error = future.exception()
                if error is None:
                    finished.append(Outcome(item, None))
                elif isinstance(error, RefinerError):
                    finished.append(Outcome(item, redact(str(error), *secrets)))
                    if isinstance(error, AuthError):
                        fatal = error
                else:
                    fatal = fatal or error
    if fatal is not None:
        raise fatal
    return outcomes


@dataclass
class SyncReport:
    """The closing summary of one run."""

    run_id: str
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    unchanged: int = 0
    duration_s: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def raise_for_failures(self, log_table: str) -> None:
        """Raise RowsFailed (exit code 1) when any row failed."""
        if self.failed:
            raise RowsFailed(
                f"{self.failed} row(s) failed; they are retried on the next run. Reasons are "
                f"above and in {log_table} (run_id {self.run_id})."
            )


class RowsFailed(Exception):
    """Some rows failed or were invalid; the run's other rows were sent and recorded."""


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def push_traits(
    plan: SyncPlan,
    client: ContactWriter,
    store: SyncStore,
    *,
    workers: int = DEFAULT_WORKERS,
    run_id: str | None = None,
    secrets: Sequence[str | None] = (),
) -> SyncReport:
    """Send the plan's rows, record every outcome and accepted hash, and summarise."""
    started = time.monotonic()
    report = SyncReport(
        run_id=run_id or new_run_id(), skipped=plan.skipped, unchanged=plan.unchanged
    )
    store.ensure_tables()
    store.record(
        report.run_id,
        plan.sync_name,
        [
            LogEntry(row.identifier_type, row.identifier, INVALID, row.reason, None)
            for row in plan.invalid
        ],
    )

    def send(row: PlannedRow) -> object:
        id_, email = _split_identifier(row.identifier_type, row.identifier)
        return client.update_contact(id=id_, email=email, traits=row.traits, account=row.account)

    def record(batch: list[Outcome]) -> None:
        store.record(
            report.run_id,
            plan.sync_name,
            [
                LogEntry(
                    o.item.identifier_type,
                    o.item.identifier,
                    SUCCEEDED if o.error is None else FAILED,
                    o.error,
                    o.item.payload_hash,
                )
                for o in batch
            ],
        )
        _tally(report, batch, lambda row: f"{row.identifier_type} {row.identifier}")

    try:
        send_bounded(plan.to_send, send, record, workers=workers, secrets=secrets)
    finally:
        report.failed += len(plan.invalid)
        report.failures[:0] = [
            (f"{row.identifier_type} {row.identifier or '(none)'}", row.reason or "")
            for row in plan.invalid
        ]
        report.duration_s = time.monotonic() - started
    return report


def _tally(report: SyncReport, batch: list[Outcome], label: Callable[[Any], str]) -> None:
    for outcome in batch:
        report.sent += 1
        if outcome.error is None:
            report.succeeded += 1
        else:
            report.failed += 1
            report.failures.append((label(outcome.item), outcome.error))


def _split_identifier(kind: IdentifierType, value: str | None) -> tuple[str | None, str | None]:
    """(id, email) keyword values for the client."""
    return (value, None) if kind == "id" else (None, value)


def check_max_changes(changes: int, max_changes: int | None, yes: bool) -> None:
    """Refuse a run that would change more than `max_changes` rows unless confirmed."""
    if max_changes is not None and changes > max_changes and not yes:
        raise ConfigError(
            f"This run would change {changes} rows, more than --max-changes {max_changes}. "
            "Check with --dry-run, then add --yes to proceed."
        )


# --- events ------------------------------------------------------------------------------------


@dataclass
class PlannedEvent:
    """One (identifier, event, row_key) row to track, or the reason it cannot be sent."""

    row_key: str | None
    identifier_type: IdentifierType
    identifier: str | None
    event: str | None
    reason: str | None = None


@dataclass
class EventPlan:
    """Events to send, invalid rows, and rows already sent in an earlier run."""

    to_send: list[PlannedEvent] = field(default_factory=list)
    invalid: list[PlannedEvent] = field(default_factory=list)
    already_sent: int = 0


def plan_events(
    data: ColumnData,
    sent_keys: set[str],
    *,
    id_column: str | None = None,
    email_column: str | None = None,
) -> EventPlan:
    """Check event rows: `event` and `row_key` columns plus an id or email column are required."""
    position = {name: index for index, name in enumerate(data.names)}
    for required in ("event", "row_key"):
        if required not in position:
            raise ConfigError(f"push-events needs an `{required}` column in --sql.")
    if id_column is None:
        id_column = next((c for c in EVENT_ID_COLUMNS if c in position), None)
    id_index = _column_index(position, id_column, "", "--id-column") if id_column else None
    email_index = _column_index(position, email_column, DEFAULT_EMAIL_COLUMN, "--email-column")
    if id_index is None and email_index is None:
        raise ConfigError("push-events needs an `identifier`, `remote_id` or `email` column.")
    keys = _texts(data, position["row_key"])
    events = _texts(data, position["event"])
    identities = _identities(data, id_index, email_index)
    seen = Counter(key for key in keys if key is not None)
    plan = EventPlan()
    for key, event, (kind, value) in zip(keys, events, identities, strict=True):
        planned = PlannedEvent(key, kind, value, event)
        if key is None:
            planned.reason = "missing row_key"
        elif seen[key] > 1:
            planned.reason = f"duplicate row_key {key!r} is on {seen[key]} rows"
        elif key in sent_keys:
            plan.already_sent += 1
            continue
        elif value is None:
            planned.reason = "missing identifier (no id or email)"
        elif event is None:
            planned.reason = "missing event name"
        elif len(event) > MAX_TRAIT_STRING_LENGTH:
            planned.reason = f"event name is {len(event)} characters long"
        (plan.invalid if planned.reason else plan.to_send).append(planned)
    return plan


def push_events(
    plan: EventPlan,
    client: ContactWriter,
    store: SyncStore,
    *,
    workers: int = DEFAULT_WORKERS,
    run_id: str | None = None,
    secrets: Sequence[str | None] = (),
) -> SyncReport:
    """Track the plan's events, log every outcome, and summarise."""
    started = time.monotonic()
    report = SyncReport(run_id=run_id or new_run_id(), unchanged=plan.already_sent)
    store.ensure_tables()

    def entry(event: PlannedEvent, status: str, error: str | None) -> EventLogEntry:
        return EventLogEntry(
            event.row_key, event.identifier_type, event.identifier, event.event, status, error
        )

    store.record_events(report.run_id, [entry(e, INVALID, e.reason) for e in plan.invalid])

    def send(event: PlannedEvent) -> object:
        id_, email = _split_identifier(event.identifier_type, event.identifier)
        return client.track_event(event.event or "", id=id_, email=email)

    def record(batch: list[Outcome]) -> None:
        store.record_events(
            report.run_id,
            [entry(o.item, SUCCEEDED if o.error is None else FAILED, o.error) for o in batch],
        )
        _tally(report, batch, lambda event: f"row_key {event.row_key}")

    try:
        send_bounded(plan.to_send, send, record, workers=workers, secrets=secrets)
    finally:
        report.failed += len(plan.invalid)
        report.failures[:0] = [
            (f"row_key {e.row_key or '(none)'}", e.reason or "") for e in plan.invalid
        ]
        report.duration_s = time.monotonic() - started
    return report


# --- runs against a warehouse ------------------------------------------------------------------


@dataclass(frozen=True)
class WarehouseTarget:
    """The warehouse `refiner load` wrote: destination, DuckDB file, the load dataset (where the
    sync tables live too) and the schema dbt builds its models in."""

    destination: str = "duckdb"
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    dataset: str = DEFAULT_DATASET
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA

    def open(self, *, read_only: bool) -> Warehouse:
        """Connect; read-only connections run the input query so it cannot write."""
        check_destination(self.destination)
        check_dataset(self.dataset)
        return open_warehouse(self.destination, duckdb_path=self.duckdb_path, read_only=read_only)


@dataclass(frozen=True)
class TraitOptions:
    """How input columns become identify-user payloads (see the module docstring)."""

    sync_name: str | None = None
    id_column: str | None = None
    email_column: str | None = None
    renames: Mapping[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    account_map: Mapping[str, str] = field(default_factory=dict)
    null_mode: NullMode = "skip"


def prepare_traits(target: WarehouseTarget, source: SyncInput, options: TraitOptions) -> SyncPlan:
    """Read the input and the accepted hashes on a read-only connection and diff them."""
    warehouse = target.open(read_only=True)
    try:
        statement, default_name = source.resolve(target.analytics_schema, warehouse)
        data = read_input(warehouse, statement)
        mapping = resolve_mapping(
            data.names,
            id_column=options.id_column,
            email_column=options.email_column,
            renames=options.renames,
            exclude=options.exclude,
            account_map=options.account_map,
        )
        sync_name = options.sync_name or default_name
        accepted = SyncStore(warehouse, target.dataset).accepted_hashes(sync_name)
    finally:
        warehouse.close()
    return plan_traits(data, mapping, accepted, sync_name=sync_name, null_mode=options.null_mode)


def execute_traits(
    target: WarehouseTarget,
    plan: SyncPlan,
    client: ContactWriter,
    *,
    workers: int = DEFAULT_WORKERS,
    secrets: Sequence[str | None] = (),
) -> SyncReport:
    """Send a plan and record its outcomes in the target warehouse."""
    warehouse = target.open(read_only=False)
    try:
        store = SyncStore(warehouse, target.dataset)
        return push_traits(plan, client, store, workers=workers, secrets=secrets)
    finally:
        warehouse.close()


def prepare_events(
    target: WarehouseTarget, sql: str, *, id_column: str | None, email_column: str | None
) -> EventPlan:
    """Run the events query read-only and drop row keys already sent."""
    statement = validate_select(sql, target.destination)
    warehouse = target.open(read_only=True)
    try:
        data = read_input(warehouse, statement)
        sent = SyncStore(warehouse, target.dataset).sent_event_keys()
    finally:
        warehouse.close()
    return plan_events(data, sent, id_column=id_column, email_column=email_column)


def execute_events(
    target: WarehouseTarget,
    plan: EventPlan,
    client: ContactWriter,
    *,
    workers: int = DEFAULT_WORKERS,
    secrets: Sequence[str | None] = (),
) -> SyncReport:
    """Track a plan's events and record their outcomes in the target warehouse."""
    warehouse = target.open(read_only=False)
    try:
        store = SyncStore(warehouse, target.dataset)
        return push_events(plan, client, store, workers=workers, secrets=secrets)
    finally:
        warehouse.close()
