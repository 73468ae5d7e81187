"""One small SQL interface over DuckDB and PostgreSQL for the reverse sync.

The reverse sync reads its input and keeps its state and logs in the warehouse that `refiner load`
wrote. This module opens that warehouse and offers only what the sync needs: read a query,
run parameterised statements in a transaction, and quote identifiers. User input reaches SQL only
as values bound to parameters or as identifiers that `identifier()` validated and `quote()` quoted.

PostgreSQL credentials come from dlt's configuration (`DESTINATION__POSTGRES__CREDENTIALS` or
`[destination.postgres] credentials` in `.dlt/secrets.toml`), exactly as for `refiner load`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pipelines.defaults import DEFAULT_DUCKDB_PATH
from pipelines.errors import ConfigError
from pipelines.query.engine import postgres_dsn

if TYPE_CHECKING:
    import pyarrow as pa

Destination = Literal["duckdb", "postgres"]
DESTINATIONS: tuple[Destination, ...] = ("duckdb", "postgres")

_SMALL_BATCH = 200
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def identifier(name: str, what: str = "name") -> str:
    """Return `name` if it is a plain SQL identifier (letters, digits, `_`; ≤63 chars).

    Raises ConfigError otherwise, so a table, schema or model name can never carry SQL.
    """
    if not _IDENTIFIER.match(name):
        raise ConfigError(
            f"Invalid {what} {name!r}: use letters, digits and underscores only "
            "(at most 63 characters, not starting with a digit)."
        )
    return name


def quote(*parts: str) -> str:
    """Quote each identifier part and join them with dots: `"schema"."table"`."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


@dataclass(frozen=True)
class ColumnData:
    """A query result held column by column: Arrow arrays where the types allow, else lists.

    DuckDB results arrive as Arrow. PostgreSQL rows are transposed and each column converted
    with `pyarrow.array`; a column Arrow cannot type stays a Python list.
    """

    names: list[str]
    columns: list[pa.Array | list[Any]]
    num_rows: int

    @classmethod
    def from_arrow(cls, table: pa.Table) -> ColumnData:
        """Wrap an Arrow table (chunks are combined)."""
        columns: list[pa.Array | list[Any]] = [column.combine_chunks() for column in table.columns]
        return cls(list(table.column_names), columns, table.num_rows)

    @classmethod
    def from_rows(cls, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> ColumnData:
        """Transpose rows into columns, typing each with Arrow when it can."""
        import pyarrow as pa

        transposed = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        columns: list[pa.Array | list[Any]] = []
        for values in transposed:
            try:
                columns.append(pa.array(values))
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                columns.append(list(values))
        return cls(list(names), columns, len(rows))

    def pylist(self, index: int) -> list[Any]:
        """The column at `index` as Python values."""
        column = self.columns[index]
        return column if isinstance(column, list) else column.to_pylist()


class Warehouse(Protocol):
    """An open connection to the warehouse. Statements use `?` placeholders on both backends."""

    destination: Destination

    def query(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read statement and return its column names and all its rows."""

    def read(self, sql: str) -> ColumnData:
        """Run one SELECT (no parameters) and return its result column by column."""

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        upsert_on: Sequence[str] = (),
    ) -> None:
        """Insert rows into the quoted `table`; with `upsert_on`, update the other columns of
        rows whose key already exists. Runs inside the current transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (inside the current transaction)."""

    def transaction(self) -> Any:
        """Context manager: commit on success, roll back on error."""

    def qualified(self, *parts: str) -> str:
        """A quoted, fully qualified schema or table name (DuckDB adds the catalog, because a
        file named refiner.duckdb makes `refiner` both a catalog and a schema)."""

    def table_exists(self, schema: str, table: str) -> bool:
        """Whether `schema.table` exists as a table or view."""

    def close(self) -> None:
        """Close the connection."""


class DuckDBWarehouse:
    """A DuckDB file. `read_only` opens it so that no statement can change it."""

    destination: Destination = "duckdb"

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        import duckdb

        if read_only and not Path(path).exists():
            raise ConfigError(
                f"DuckDB file {str(path)!r} does not exist; run `refiner load` first."
            )
        self._connection = duckdb.connect(str(path), read_only=read_only)
        self._connection.execute("SET TimeZone = 'UTC'")
        self._catalog = str(self._connection.execute("SELECT current_database()").fetchall()[0][0])

    def qualified(self, *parts: str) -> str:
        return quote(self._catalog, *parts)

    def query(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._connection.execute(sql, list(params))
        columns = [column[0] for column in cursor.description or ()]
        return columns, cursor.fetchall()

    def read(self, sql: str) -> ColumnData:
        relation = self._connection.sql(sql)
        if relation is None:
            raise ConfigError("The input statement returned no result set.")
        return ColumnData.from_arrow(relation.to_arrow_table())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._connection.execute(sql, list(params))

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        upsert_on: Sequence[str] = (),
    ) -> None:
        import pyarrow as pa

        if not rows:
            return
        names = ", ".join(quote(name) for name in columns)
        if len(rows) <= _SMALL_BATCH:
            values = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * len(rows))
            self._connection.execute(
                f"INSERT INTO {table} ({names}) VALUES {values}"
                + _upsert_clause(columns, upsert_on),
                [value for row in rows for value in row],
            )
            return
        # Large batches go through Arrow: DuckDB's executemany runs row by row (~100x slower).
        batch = pa.table(
            {
                name: pa.array(list(values))
                for name, values in zip(columns, zip(*rows, strict=True), strict=True)
            }
        )
        self._connection.register("refiner_sync_batch", batch)
        try:
            self._connection.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM refiner_sync_batch"
                + _upsert_clause(columns, upsert_on)
            )
        finally:
            self._connection.unregister("refiner_sync_batch")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._connection.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def table_exists(self, schema: str, table: str) -> bool:
        _, rows = self.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (schema, table),
        )
        return bool(rows)

    def close(self) -> None:
        self._connection.close()


class PostgresWarehouse:
    """A PostgreSQL database. `read_only` makes every transaction of the session read-only."""

    destination: Destination = "postgres"

    def __init__(self, dsn: str, *, read_only: bool = False) -> None:
        import psycopg2

        self._connection = psycopg2.connect(dsn)
        self._connection.set_session(readonly=read_only, autocommit=True)
        with self._connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")

    def qualified(self, *parts: str) -> str:
        return quote(*parts)

    def query(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._connection.cursor() as cursor:
            cursor.execute(_pg(sql, params), tuple(params) or None)
            columns = [column.name for column in cursor.description or ()]
            return columns, cursor.fetchall()

    def read(self, sql: str) -> ColumnData:
        names, rows = self.query(sql)
        return ColumnData.from_rows(names, rows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._connection.cursor() as cursor:
            cursor.execute(_pg(sql, params), tuple(params) or None)

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        upsert_on: Sequence[str] = (),
    ) -> None:
        from psycopg2.extras import execute_values

        if not rows:
            return
        names = ", ".join(quote(name) for name in columns)
        with self._connection.cursor() as cursor:
            execute_values(
                cursor,
                f"INSERT INTO {table} ({names}) VALUES %s" + _upsert_clause(columns, upsert_on),
                [tuple(row) for row in rows],
                page_size=1000,
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._connection.cursor() as cursor:
            cursor.execute("BEGIN")
        try:
            yield
        except BaseException:
            with self._connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
            raise
        with self._connection.cursor() as cursor:
            cursor.execute("COMMIT")

    def table_exists(self, schema: str, table: str) -> bool:
        _, rows = self.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (schema, table),
        )
        return bool(rows)

    def close(self) -> None:
        self._connection.close()


def _upsert_clause(columns: Sequence[str], keys: Sequence[str]) -> str:
    if not keys:
        return ""
    updates = ", ".join(
        f"{quote(name)} = excluded.{quote(name)}" for name in columns if name not in keys
    )
    return f" ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {updates}"


def _pg(sql: str, params: Sequence[Any]) -> str:
    """Translate `?` placeholders to `%s`; a statement without parameters is sent as is."""
    if not params:
        return sql
    return sql.replace("%", "%%").replace("?", "%s")


def open_warehouse(
    destination: str, *, duckdb_path: str | Path = DEFAULT_DUCKDB_PATH, read_only: bool = False
) -> Warehouse:
    """Open the warehouse that `refiner load` wrote to."""
    if destination == "duckdb":
        return DuckDBWarehouse(duckdb_path, read_only=read_only)
    if destination == "postgres":
        return PostgresWarehouse(postgres_dsn(), read_only=read_only)
    raise ConfigError(f"Unknown destination {destination!r}; use one of {', '.join(DESTINATIONS)}.")
