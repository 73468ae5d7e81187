"""Read-only SQL on the warehouse that `refiner load` wrote: one engine for the CLI, notebooks
and the MCP server's `query_warehouse` tool.

Every statement first passes `validate_select` (one SELECT or WITH, parsed with sqlglot), then runs
on a connection that cannot write and is closed right after:

- DuckDB: a `read_only` connection with `enable_external_access = false` (no files, no network,
  no extensions) and `lock_configuration = true` (no SET), in UTC. DuckDB allows one writing
  process per file, so a file a load is writing gives WarehouseBusy at once.
- PostgreSQL: a READ ONLY transaction with `statement_timeout`, in UTC, read through a
  server-side cursor so a large result is never held whole.

The timeout interrupts the running query (DuckDB `interrupt()`, PostgreSQL cancel) and raises
QueryTimeout. Errors are one line: QueryRefused (the statement is not allowed), QueryFailed (the
database refused it; DuckDB's position included when it gives one), WarehouseBusy, QueryTimeout,
WarehouseUnavailableError when PostgreSQL cannot be reached, and ConfigError when there is no
warehouse to open (no DuckDB file, no PostgreSQL credentials).
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.config import DESTINATIONS
from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET
from pipelines.errors import ConfigError, unreachable_warehouse
from pipelines.query.sandbox import QueryRefused, validate_select
from pipelines.warehouse_lock import duckdb_file

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "QueryFailed",
    "QueryRefused",
    "QueryResult",
    "QueryTimeout",
    "WarehouseBusy",
    "describe_warehouse",
    "run_query",
    "stream_query",
]

BATCH_ROWS = 10_000
_WHAT = "The query"
_DUCKDB_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_LOCKED = ("Could not set lock on file", "Conflicting lock is held")
_PG_CONNECT_TIMEOUT_S = 10
_CURSOR = "refiner_query"
_DECLARE = 'DECLARE "{name}" CURSOR WITHOUT HOLD FOR '
"""How psycopg2 opens a named cursor; PostgreSQL's error positions count from its start."""


class QueryFailed(RuntimeError):
    """The database refused the statement (an SQL error); one line, with its position if known."""


class WarehouseBusy(RuntimeError):
    """The DuckDB file is locked by a writing process (a load); try again when it has finished."""


class QueryTimeout(RuntimeError):
    """The query ran longer than its timeout and was interrupted."""


@dataclass(frozen=True)
class QueryResult:
    """The first rows of a result. `types` are the database's type names. `truncated` says that
    rows beyond `max_rows` were left out; `total_rows` is the full count (None when not counted)."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    total_rows: int | None


def run_query(
    sql: str,
    *,
    destination: str = "duckdb",
    duckdb_path: str | None = None,
    max_rows: int | None = 200,
    timeout_s: float | None = 30.0,
    count_rows: bool = True,
) -> QueryResult:
    """Run one read-only SELECT and return at most `max_rows` rows (all with None).

    With `count_rows` the rows beyond `max_rows` are read and counted, never kept, so
    `total_rows` is exact; without it `total_rows` is None when the result was truncated.
    Raises QueryRefused, QueryFailed, WarehouseBusy, QueryTimeout, WarehouseUnavailableError
    or ConfigError (module doc).
    """
    if max_rows is not None and max_rows < 0:
        raise ConfigError(f"max_rows must be 0 or more, got {max_rows}.")
    statement = validate_select(sql, _dialect(destination), what=_WHAT)
    if destination == "duckdb":
        path = resolve_duckdb_path(duckdb_path)
        return _duckdb_result(statement, path, max_rows, timeout_s, count_rows)
    return _postgres_result(statement, max_rows, timeout_s, count_rows)


def stream_query(
    sql: str,
    *,
    destination: str = "duckdb",
    duckdb_path: str | None = None,
    timeout_s: float | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """The whole result of one read-only SELECT as Arrow record batches, with no row cap.

    The statement is checked at once (QueryRefused); the query runs when the first batch is
    taken, and its errors are raised from there. At least one batch comes (an empty one for an
    empty result), so the schema is always known. The connection stays open until the iterator
    is exhausted or closed. Timestamps with a time zone are UTC. Raises as `run_query`.
    """
    statement = validate_select(sql, _dialect(destination), what=_WHAT)
    if destination == "duckdb":
        path = resolve_duckdb_path(duckdb_path)
        return _duckdb_batches(statement, path, timeout_s, batch_rows)
    return _postgres_batches(statement, timeout_s, batch_rows)


def resolve_duckdb_path(duckdb_path: str | None = None) -> str:
    """The DuckDB file as `refiner load` picks it: the argument, else dlt's
    `destination.duckdb.credentials` (DESTINATION__DUCKDB__CREDENTIALS), else ./refiner.duckdb."""
    return str(duckdb_file(duckdb_path))


def postgres_dsn() -> str:
    """The PostgreSQL URL from dlt's configuration (DESTINATION__POSTGRES__CREDENTIALS or
    `[destination.postgres] credentials` in .dlt/secrets.toml), as `refiner load` uses it."""
    from dlt.common.configuration import resolve_configuration
    from dlt.common.configuration.exceptions import ConfigurationException
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    try:
        credentials = resolve_configuration(
            PostgresCredentials(), sections=("destination", "postgres")
        )
    except ConfigurationException as missing:
        raise ConfigError(
            "PostgreSQL credentials are not configured: set DESTINATION__POSTGRES__CREDENTIALS "
            "or [destination.postgres] credentials in .dlt/secrets.toml."
        ) from missing
    return str(credentials.to_native_representation())


def _dialect(destination: str) -> str:
    if destination not in DESTINATIONS:
        raise ConfigError(
            f"Unknown destination {destination!r}; use one of {', '.join(DESTINATIONS)}."
        )
    return destination


@contextmanager
def _deadline(timeout_s: float | None, interrupt: Callable[[], object]) -> Iterator[None]:
    """Call `interrupt` from a timer thread if the block outlives `timeout_s`."""
    if timeout_s is None:
        yield
        return
    timer = threading.Timer(timeout_s, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


# --- DuckDB ------------------------------------------------------------------------------------


@contextmanager
def duckdb_connection(path: str) -> Iterator[Any]:
    """A read-only, sandboxed connection to the DuckDB file at `path`, closed on exit."""
    import duckdb

    if not Path(path).is_file():
        raise ConfigError(f"DuckDB file {path!r} does not exist; run `refiner load` first.")
    try:
        connection = duckdb.connect(path, read_only=True, config=dict(_DUCKDB_CONFIG))
    except duckdb.IOException as error:
        if any(marker in str(error) for marker in _LOCKED):
            raise WarehouseBusy(
                f"The DuckDB file {path!r} is busy: a load or another writer holds it. "
                "Try again when it has finished."
            ) from None
        raise QueryFailed(_duckdb_message(str(error), "")) from None
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET lock_configuration = true")
        yield connection
    finally:
        connection.close()


@contextmanager
def _duckdb_errors(connection: Any, statement: str, timeout_s: float | None) -> Iterator[None]:
    import duckdb

    try:
        with _deadline(timeout_s, connection.interrupt):
            yield
    except duckdb.InterruptException:
        raise QueryTimeout(f"The query ran longer than {timeout_s:g} s and was stopped.") from None
    except duckdb.Error as error:
        raise QueryFailed(_duckdb_message(str(error), statement)) from None


def _duckdb_result(
    statement: str, path: str, max_rows: int | None, timeout_s: float | None, count_rows: bool
) -> QueryResult:
    with duckdb_connection(path) as connection, _duckdb_errors(connection, statement, timeout_s):
        cursor = connection.execute(statement)
        columns = [str(column[0]) for column in cursor.description or ()]
        types = [str(column[1]) for column in cursor.description or ()]
        if max_rows is None:
            rows = cursor.fetchall()
            return QueryResult(columns, types, rows, False, len(rows))
        rows = cursor.fetchmany(max_rows + 1)
        truncated = len(rows) > max_rows
        total: int | None = len(rows)
        if truncated:
            total = max_rows + 1 + _count_rest(cursor) if count_rows else None
        return QueryResult(columns, types, rows[:max_rows], truncated, total)


def _count_rest(cursor: Any) -> int:
    """Count the rows still to come without turning them into Python objects."""
    with warnings.catch_warnings():
        # DuckDB warns that Arrow on a DB-API cursor copies; only counts are taken here.
        warnings.simplefilter("ignore", UserWarning)
        return sum(batch.num_rows for batch in cursor.to_arrow_reader(BATCH_ROWS * 10))


def _duckdb_batches(
    statement: str, path: str, timeout_s: float | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    with duckdb_connection(path) as connection, _duckdb_errors(connection, statement, timeout_s):
        reader = connection.sql(statement).to_arrow_reader(batch_rows)
        yielded = False
        for batch in reader:
            yielded = True
            yield batch
        if not yielded:
            yield _empty(reader.schema)


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_pylist([], schema=schema)


_POSITION = re.compile(r"^LINE (\d+): (.*)$")


def _duckdb_message(message: str, statement: str) -> str:
    """DuckDB's error as one line, its `LINE n:` excerpt and caret turned into line and column."""
    lines = message.splitlines()
    head = lines[0].strip() if lines else "DuckDB error"
    hints = [line.strip() for line in lines[1:] if line.startswith("Did you mean")]
    parts = [head, *hints]
    for index, line in enumerate(lines):
        match = _POSITION.match(line)
        if match and index + 1 < len(lines):
            number, excerpt = int(match.group(1)), match.group(2)
            indent = len(line) - len(excerpt)
            column = _caret_column(statement, number, excerpt, lines[index + 1], indent)
            parts.append(f"(line {match.group(1)}" + (f", column {column})" if column else ")"))
            break
    return " ".join(parts)


def _caret_column(statement: str, line_number: int, excerpt: str, carets: str, indent: int) -> int:
    """The 1-based column of DuckDB's caret in the statement, or 0 when it cannot be placed."""
    offset = carets.find("^") - indent
    source = statement.splitlines()
    if offset < 0 or line_number > len(source):
        return 0
    line = source[line_number - 1]
    if excerpt.startswith("..."):
        core = excerpt[3:].removesuffix("...")
        start = line.find(core)
        return start + offset - 3 + 1 if start >= 0 else 0
    return offset + 1


# --- PostgreSQL --------------------------------------------------------------------------------


@contextmanager
def postgres_transaction(timeout_s: float | None) -> Iterator[Any]:
    """A READ ONLY transaction on a new connection, UTC, with `statement_timeout`; the
    connection is rolled back and closed on exit."""
    import psycopg2

    options = "-c TimeZone=UTC -c default_transaction_read_only=on"
    if timeout_s is not None:
        options += f" -c statement_timeout={max(1, int(timeout_s * 1000))}"
    try:
        connection = psycopg2.connect(
            postgres_dsn(), connect_timeout=_PG_CONNECT_TIMEOUT_S, options=options
        )
    except psycopg2.OperationalError as error:
        raise unreachable_warehouse(error) or QueryFailed(_first_line(str(error))) from None
    try:
        connection.set_session(readonly=True, autocommit=False)
        yield connection
    finally:
        connection.rollback()
        connection.close()


@contextmanager
def _postgres_errors(connection: Any, statement: str, timeout_s: float | None) -> Iterator[None]:
    import psycopg2
    from psycopg2 import errors

    try:
        with _deadline(timeout_s, connection.cancel):
            yield
    except errors.QueryCanceled:
        raise QueryTimeout(f"The query ran longer than {timeout_s:g} s and was stopped.") from None
    except psycopg2.Error as error:
        raise QueryFailed(_postgres_message(error, statement)) from None


def _postgres_message(error: Any, statement: str) -> str:
    """PostgreSQL's primary message, with its position turned into a line and column of
    `statement` (the server counts from the start of the cursor's DECLARE)."""
    diagnostics = getattr(error, "diag", None)
    primary = getattr(diagnostics, "message_primary", None) or _first_line(str(error))
    position = getattr(diagnostics, "statement_position", None)
    offset = int(position) - 1 - len(_DECLARE.format(name=_CURSOR)) if position else -1
    if not 0 <= offset <= len(statement):
        return str(primary)
    before = statement[:offset].split("\n")
    return f"{primary} (line {len(before)}, column {len(before[-1]) + 1})"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _postgres_result(
    statement: str, max_rows: int | None, timeout_s: float | None, count_rows: bool
) -> QueryResult:
    with (
        postgres_transaction(timeout_s) as connection,
        _postgres_errors(connection, statement, timeout_s),
    ):
        with connection.cursor(name=_CURSOR) as cursor:
            cursor.itersize = BATCH_ROWS
            cursor.execute(statement)
            limit = None if max_rows is None else max_rows + 1
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
            description = list(cursor.description or ())
            truncated = max_rows is not None and len(rows) > max_rows
            total: int | None = len(rows)
            if truncated:
                total = len(rows) + _count_pg_rest(cursor) if count_rows else None
        columns = [str(column.name) for column in description]
        types = _postgres_type_names(connection, [column.type_code for column in description])
    return QueryResult(columns, types, rows[:max_rows], truncated, total)


def _count_pg_rest(cursor: Any) -> int:
    count = 0
    while chunk := cursor.fetchmany(BATCH_ROWS):
        count += len(chunk)
    return count


def _postgres_type_names(connection: Any, oids: list[int]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oid::int, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)",
            (list(set(oids)),),
        )
        names = dict(cursor.fetchall())
    return [str(names.get(oid, oid)) for oid in oids]


def _postgres_batches(
    statement: str, timeout_s: float | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    from pipelines.query.arrow import postgres_schema, rows_to_batch

    with (
        postgres_transaction(timeout_s) as connection,
        _postgres_errors(connection, statement, timeout_s),
        connection.cursor(name=_CURSOR) as cursor,
    ):
        cursor.itersize = batch_rows
        cursor.execute(statement)
        first = cursor.fetchmany(batch_rows)
        schema = postgres_schema(cursor.description or ())
        yield rows_to_batch(first, schema)
        while chunk := cursor.fetchmany(batch_rows):
            yield rows_to_batch(chunk, schema)


# --- describe ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnInfo:
    """A column and its database type name."""

    name: str
    type: str


@dataclass(frozen=True)
class TableInfo:
    """A table or view of the warehouse; `description` is the first sentence of its dbt docs."""

    schema: str
    name: str
    row_count: int
    columns: list[ColumnInfo]
    description: str | None = None


def describe_warehouse(
    *,
    destination: str = "duckdb",
    duckdb_path: str | None = None,
    schemas: tuple[str, ...] = (DEFAULT_DATASET, DEFAULT_ANALYTICS_SCHEMA),
    timeout_s: float | None = 30.0,
) -> list[TableInfo]:
    """Tables and views of `schemas` (dlt's own `_dlt_*` tables left out), ordered by schema and
    name, with columns, types, exact row counts, and the first sentence of each one's dbt
    description: a model's, or for the first schema (the dataset `refiner load` wrote) its dbt
    source table's. Raises as `run_query`."""
    from pipelines.query.catalog import CATALOG_SQL, descriptions, row_count_sql

    _dialect(destination)
    described = descriptions()
    placeholders = ", ".join("?" if destination == "duckdb" else "%s" for _ in schemas)
    catalog_sql = CATALOG_SQL.format(placeholders=placeholders)

    def describe(run: Callable[[str, tuple[str, ...]], list[tuple[Any, ...]]]) -> list[TableInfo]:
        columns: dict[tuple[str, str], list[ColumnInfo]] = {}
        for schema, table, column, data_type in run(catalog_sql, schemas):
            columns.setdefault((schema, table), []).append(ColumnInfo(column, data_type))
        tables = []
        for (schema, table), found in columns.items():
            count = int(run(row_count_sql(schema, table), ())[0][0])
            kind = "source" if schema == schemas[0] else "model"
            tables.append(TableInfo(schema, table, count, found, described.get((kind, table))))
        return tables

    if destination == "duckdb":
        with (
            duckdb_connection(resolve_duckdb_path(duckdb_path)) as connection,
            _duckdb_errors(connection, catalog_sql, timeout_s),
        ):
            return describe(lambda sql, params: connection.execute(sql, params).fetchall())
    with (
        postgres_transaction(timeout_s) as connection,
        _postgres_errors(connection, catalog_sql, timeout_s),
    ):

        def run_pg(sql: str, params: tuple[str, ...]) -> list[tuple[Any, ...]]:
            with connection.cursor() as cursor:
                cursor.execute(sql, params or None)
                return list(cursor.fetchall())

        return describe(run_pg)
