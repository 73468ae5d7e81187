"""`refiner sql`: read-only SQL on the warehouse, as a table, CSV, JSON Lines or Parquet.

The statement is SQL text, a saved query's name (`refiner sql --list`), a file (`-f`), or stdin.
It runs on `pipelines.query.engine`: one SELECT or WITH, on a connection that cannot write.
Exit codes: 2 for a refused statement, an SQL error or bad options (one line on stderr, with
the position when the database gives one); 1 when the warehouse is busy or the query timed out.
"""

from __future__ import annotations

import itertools
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer

from pipelines.cli.options import DESTINATION, DUCKDB_PATH
from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

    from pipelines.query.engine import QueryResult

FORMATS = ("table", "csv", "json", "parquet")
DEFAULT_TABLE_ROWS = 100
_PIPED_WIDTH = 400


def sql_command(
    query: str | None = typer.Argument(
        None, help="SQL text, or a saved query's name (see --list). Default: -f, else stdin."
    ),
    file: str | None = typer.Option(None, "--file", "-f", help="Read the SQL from this file."),
    list_saved: bool = typer.Option(False, "--list", help="List the saved queries and exit."),
    destination: str | None = DESTINATION,
    duckdb_path: str | None = DUCKDB_PATH,
    output_format: str = typer.Option(
        "table", "--format", help="table, csv, json (one object per line) or parquet."
    ),
    output: str | None = typer.Option(
        None, "--output", "-o", help="Write to this file (required for parquet)."
    ),
    max_rows: int | None = typer.Option(
        None,
        "--max-rows",
        min=0,
        help=f"Rows to show or write (default: {DEFAULT_TABLE_ROWS} for table, all otherwise).",
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.1, help="Stop the query after this many seconds."
    ),
) -> None:
    """Run read-only SQL, or a saved query, on the warehouse that `load` wrote."""
    if list_saved:
        _print_saved(_stdout())
        return
    if output_format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}; got {output_format!r}.")
    if output_format == "parquet" and not output:
        raise ConfigError("--format parquet writes a file: add --output FILE.parquet.")
    from pipelines.config import resolve_warehouse

    statement = _statement(query, file)
    warehouse = resolve_warehouse(destination, duckdb_path=duckdb_path)
    where = (warehouse.destination, str(warehouse.duckdb_path))
    with _one_line_errors():
        if output_format == "table":
            shown = DEFAULT_TABLE_ROWS if max_rows is None else max_rows
            _print_table(statement, *where, shown, timeout)
        else:
            _export(statement, *where, output_format, output, max_rows, timeout)


def _statement(query: str | None, file: str | None) -> str:
    """The SQL to run: the argument (SQL or a saved query's name), the file, or stdin."""
    from pipelines.query.saved import is_saved_query_name, saved_query

    if query is not None and file is not None:
        raise ConfigError("Give the SQL either as an argument or with -f, not both.")
    if query is not None:
        return saved_query(query.strip()).sql if is_saved_query_name(query) else query
    if file is not None and file != "-":
        try:
            return Path(file).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"Cannot read {file!r}: {error.strerror}.") from None
    if file is None and sys.stdin.isatty():
        raise ConfigError(
            "No SQL given: pass it as an argument, with -f FILE, or on stdin "
            "(`refiner sql --list` shows the saved queries)."
        )
    return sys.stdin.read()


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """An SQL error is the user's to fix: exit 2 with the database's one line."""
    from pipelines.query.engine import QueryFailed

    try:
        yield
    except QueryFailed as error:
        raise ConfigError(str(error)) from None


def _print_saved(console: Console) -> None:
    from rich.table import Table

    from pipelines.query.saved import saved_queries

    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("name")
    table.add_column("what it shows")
    for saved in saved_queries():
        table.add_row(saved.name, saved.summary)
    console.print(table)
    console.print("Run one with `refiner sql NAME`; read it in pipelines/query/saved/NAME.sql.")


def _print_table(
    statement: str,
    destination: str,
    duckdb_path: str | None,
    max_rows: int,
    timeout: float | None,
) -> None:
    from pipelines.query.engine import run_query

    result = run_query(
        statement,
        destination=destination,
        duckdb_path=duckdb_path,
        max_rows=max_rows,
        timeout_s=timeout,
    )
    console = _stdout()
    console.print(_result_table(result))
    console.print(_row_note(result), markup=False)


def _row_note(result: QueryResult) -> str:
    shown = len(result.rows)
    if result.truncated:
        return f"first {shown} of {result.total_rows} rows (--max-rows to show more)"
    return f"{shown} row" + ("" if shown == 1 else "s")


def _result_table(result: QueryResult) -> Any:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for name, type_name in zip(result.columns, result.types, strict=True):
        numeric = any(word in type_name.upper() for word in _NUMERIC_TYPES)
        table.add_column(name, justify="right" if numeric else "left")
    for row in result.rows:
        table.add_row(*(_cell(value) for value in row))
    return table


_NUMERIC_TYPES = ("INT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL", "PRECISION")


def _cell(value: Any) -> Any:
    from datetime import datetime

    from rich.text import Text

    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, datetime):
        return Text(value.isoformat(sep=" "))
    return Text(str(value))


def _export(
    statement: str,
    destination: str,
    duckdb_path: str | None,
    output_format: str,
    output: str | None,
    max_rows: int | None,
    timeout: float | None,
) -> None:
    from pipelines.query.engine import stream_query
    from pipelines.query.export import limit_rows, write_csv, write_json_lines, write_parquet

    stream = stream_query(
        statement, destination=destination, duckdb_path=duckdb_path, timeout_s=timeout
    )
    # The first batch runs the query: an SQL error then leaves no output file behind.
    batches = limit_rows(itertools.chain([next(stream)], stream), max_rows)
    if output_format == "parquet":
        write_parquet(batches, str(output))
        return
    writer = write_csv if output_format == "csv" else write_json_lines
    with _text_output(output) as out:
        writer(batches, out)


@contextmanager
def _text_output(output: str | None) -> Iterator[IO[str]]:
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with open(output, "w", encoding="utf-8", newline="") as out:
        yield out


def _stdout() -> Console:
    """Standard output; piped or redirected, tables keep their natural width instead of 80."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = _PIPED_WIDTH
    return console


def register(app: typer.Typer) -> None:
    """Add `refiner sql` to the root app."""
    app.command("sql")(sql_command)
