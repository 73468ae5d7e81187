"""The warehouse tools: `describe_warehouse` and `query_warehouse`, on `pipelines.query.engine`.

The engine does the guarding: one SELECT or WITH statement parsed with sqlglot, a short-lived
read-only connection (DuckDB with external access off and its configuration locked;
PostgreSQL in a READ ONLY transaction), and a timeout that interrupts the query. This module
adds the tool's limits (rows, then characters of output), retries for up to two seconds while
a load holds the DuckDB file, and turns the engine's errors into tool errors of one line: a
statement the engine refuses is audited as `refused`, anything else as `failed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

import orjson
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

# pydantic reads output schemas from TypedDicts, and on Python 3.11 only from these.
from typing_extensions import TypedDict

from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET
from pipelines.errors import ConfigError, WarehouseUnavailableError
from pipelines.mcp.audit import refuse
from pipelines.query.engine import (
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    WarehouseBusy,
    describe_warehouse,
    run_query,
)

T = TypeVar("T")

DEFAULT_MAX_ROWS = 200
MAX_ROWS_LIMIT = 1000
DEFAULT_MAX_CHARS = 50_000
DEFAULT_TIMEOUT_S = 30.0
BUSY_RETRY_SECONDS = 2.0


class ColumnDescription(TypedDict):
    """One column and its database type."""

    name: str
    type: str


class TableDescription(TypedDict):
    """One table or view, with its exact row count and, for marts, dbt's description."""

    schema: str
    name: str
    row_count: int
    description: str | None
    columns: list[ColumnDescription]


class WarehouseDescription(TypedDict):
    """The tables of the raw and analytics schemas."""

    tables: list[TableDescription]


class QueryOutput(TypedDict):
    """The first rows of a result, cut at max_rows and then at the character cap."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    truncated_by: Literal["max_rows", "max_chars"] | None


class WarehouseTools:
    """Read-only access to one warehouse; every call opens and closes its own connection."""

    def __init__(
        self,
        *,
        destination: str = "duckdb",
        duckdb_path: str | None = None,
        schemas: tuple[str, str] = (DEFAULT_DATASET, DEFAULT_ANALYTICS_SCHEMA),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        """`schemas` are the dataset `refiner load` writes and the schema of the dbt models."""
        self._destination = destination
        self._duckdb_path = duckdb_path
        self._schemas = schemas
        self._timeout_s = timeout_s
        self._max_chars = max_chars

    def describe_warehouse(self) -> WarehouseDescription:
        """Tables and views of the loaded data and the dbt marts: columns, types, row counts.

        Each dbt mart carries its one-line description. Read this before query_warehouse.
        """
        with _engine_errors():
            tables = _retry_busy(
                lambda: describe_warehouse(
                    destination=self._destination,
                    duckdb_path=self._duckdb_path,
                    schemas=self._schemas,
                    timeout_s=self._timeout_s,
                )
            )
        return {
            "tables": [
                {
                    "schema": table.schema,
                    "name": table.name,
                    "row_count": table.row_count,
                    "description": table.description,
                    "columns": [{"name": c.name, "type": c.type} for c in table.columns],
                }
                for table in tables
            ]
        }

    def query_warehouse(
        self,
        sql: Annotated[
            str,
            Field(
                min_length=1,
                description="One read-only SELECT or WITH statement, e.g. "
                "SELECT * FROM refiner_analytics.nps_daily ORDER BY response_day DESC",
            ),
        ],
        max_rows: Annotated[
            int, Field(ge=1, le=MAX_ROWS_LIMIT, description="Rows to return at most, 1 to 1000.")
        ] = DEFAULT_MAX_ROWS,
    ) -> QueryOutput:
        """Run one read-only SQL query on the warehouse and return its first rows.

        Only SELECT and WITH; no files, extensions, settings or writes. Results are cut at
        max_rows and at a character cap (truncated says so); a slow query times out.
        """
        with _engine_errors():
            result = _retry_busy(
                lambda: run_query(
                    sql,
                    destination=self._destination,
                    duckdb_path=self._duckdb_path,
                    max_rows=max_rows,
                    timeout_s=self._timeout_s,
                    count_rows=False,
                )
            )
        rows, cut_by_chars = _cap_chars(result.rows, self._max_chars)
        truncated_by: Literal["max_rows", "max_chars"] | None = (
            "max_chars" if cut_by_chars else "max_rows" if result.truncated else None
        )
        return {
            "columns": list(result.columns),
            "types": list(result.types),
            "rows": rows,
            "row_count": len(rows),
            "truncated": truncated_by is not None,
            "truncated_by": truncated_by,
        }


def _retry_busy(work: Callable[[], T]) -> T:
    """`work()`, tried again for a moment while a load holds the DuckDB file; then the
    engine's WarehouseBusy ("try again") goes to the agent instead of a hang."""
    retrying = Retrying(
        stop=stop_after_delay(BUSY_RETRY_SECONDS),
        wait=wait_exponential(multiplier=0.1, max=0.5),
        retry=retry_if_exception_type(WarehouseBusy),
        reraise=True,
    )
    return retrying(work)


def _cap_chars(rows: list[tuple[Any, ...]], max_chars: int) -> tuple[list[list[Any]], bool]:
    """The leading rows, as JSON-ready lists, whose JSON fits in `max_chars`; and whether rows
    were left out. Values JSON cannot hold (decimals, intervals) become their text."""
    kept: list[list[Any]] = []
    used = 2
    for row in rows:
        encoded = orjson.dumps(list(row), default=str)
        used += len(encoded.decode()) + 1
        if used > max_chars:
            return kept, True
        kept.append(orjson.loads(encoded))
    return kept, False


@contextmanager
def _engine_errors() -> Iterator[None]:
    try:
        yield
    except QueryRefused as error:
        refuse(f"Refused: {error}")
    except (
        QueryFailed,
        WarehouseBusy,
        QueryTimeout,
        ConfigError,
        WarehouseUnavailableError,
    ) as error:
        raise ToolError(" ".join(str(error).split())) from None
