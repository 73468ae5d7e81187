"""The query engine and `refiner sql` on PostgreSQL: a read-only transaction with a statement
timeout, the escapes refused before they reach the server, and the same saved-query results as
the emulator's truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from pipelines.query import query
from pipelines.query.engine import (
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    describe_warehouse,
    postgres_transaction,
    run_query,
    stream_query,
)
from tests.cli_run import run_refiner
from tests.query.helpers import (
    assert_nps_by_week,
    build_warehouse,
    query_seed,
    refiner_env,
)
from tests.warehouse import PostgresDatabase, fresh_postgres_database, requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.slow]

ESCAPES = [
    "commit; drop table refiner_raw.responses",
    "select 1; drop table refiner_raw.responses",
    "drop table refiner_raw.responses",
    "delete from refiner_raw.responses",
    "update refiner_raw.responses set form_name = 'x'",
    "create table refiner_raw.evil as select 1 as x",
    "with d as (delete from refiner_raw.responses returning *) select * from d",
    "select pg_read_file('/etc/passwd')",
    "select set_config('default_transaction_read_only', 'off', false)",
    "set default_transaction_read_only = off",
    "copy refiner_raw.responses to '/tmp/refiner-escape.csv'",
]


@dataclass(frozen=True)
class LoadedPostgres:
    emulator: Emulator
    database: PostgresDatabase


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedPostgres]:
    """One load and transform into a throwaway database; DESTINATION__POSTGRES__CREDENTIALS
    stays set for the module's tests, as a user sets it."""
    directory = tmp_path_factory.mktemp("query-postgres")
    emulator = Emulator(query_seed()).start()
    try:
        with fresh_postgres_database() as database:
            credentials = {"DESTINATION__POSTGRES__CREDENTIALS": database.url}
            with refiner_env(emulator, **credentials):
                build_warehouse(emulator, directory, "postgres")
                yield LoadedPostgres(emulator, database)
    finally:
        emulator.stop()


def _snapshot(database: PostgresDatabase) -> list[tuple[Any, ...]]:
    """Every table of the warehouse with its row count, read outside the engine."""
    import psycopg2

    connection = psycopg2.connect(database.url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema like 'refiner%' order by 1, 2"
            )
            tables = cursor.fetchall()
            counts = []
            for schema, table in tables:
                cursor.execute(f'select count(*) from "{schema}"."{table}"')
                counts.append((schema, table, cursor.fetchone()[0]))
            return counts
    finally:
        connection.close()


@pytest.mark.parametrize("sql", ESCAPES)
def test_escapes_are_refused_and_the_warehouse_is_unchanged(
    warehouse: LoadedPostgres, sql: str
) -> None:
    before = _snapshot(warehouse.database)
    with pytest.raises(QueryRefused):
        run_query(sql, destination="postgres")
    assert _snapshot(warehouse.database) == before
    assert not Path("/tmp/refiner-escape.csv").exists()


def test_the_transaction_is_read_only_with_a_statement_timeout(warehouse: LoadedPostgres) -> None:
    """The second guard on its own: statements sent straight to the engine's transaction."""
    import psycopg2

    with postgres_transaction(2.5) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select current_setting('transaction_read_only'), "
            "current_setting('statement_timeout'), current_setting('TimeZone')"
        )
        assert cursor.fetchone() == ("on", "2500ms", "UTC")
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cursor.execute("create table refiner_raw.evil (x int)")
    with (
        postgres_transaction(None) as connection,
        connection.cursor() as cursor,
        pytest.raises(psycopg2.errors.ReadOnlySqlTransaction),
    ):
        cursor.execute("delete from refiner_raw.responses")


def test_known_results_and_row_cap(warehouse: LoadedPostgres) -> None:
    completed = sum(1 for r in warehouse.emulator.store.responses.values() if r["completed_at"])
    result = run_query(
        "select uuid, completed_at from refiner_raw.responses order by uuid",
        destination="postgres",
        max_rows=7,
    )
    assert result.columns == ["uuid", "completed_at"]
    assert result.types == ["character varying", "timestamp with time zone"]
    assert (len(result.rows), result.truncated, result.total_rows) == (7, True, completed)
    assert result.rows[0][1].utcoffset().total_seconds() == 0


def test_sql_error_gives_its_line_and_column(warehouse: LoadedPostgres) -> None:
    with pytest.raises(QueryFailed) as failed:
        run_query("select uuid,\n  nope\nfrom refiner_raw.responses", destination="postgres")
    assert str(failed.value) == 'column "nope" does not exist (line 2, column 3)'


def test_timeout_cancels_the_query(warehouse: LoadedPostgres) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        run_query("select pg_sleep(20)", destination="postgres", timeout_s=0.5)
    assert time.monotonic() - started < 5
    with pytest.raises(QueryTimeout):
        list(stream_query("select pg_sleep(20)", destination="postgres", timeout_s=0.5))


def test_nps_by_week_on_postgres_matches_the_emulator(warehouse: LoadedPostgres) -> None:
    run = run_refiner("sql", "nps-by-week", "--destination", "postgres", "--format", "json")
    assert run.code == 0, run.stderr
    assert_nps_by_week(run.stdout, warehouse.emulator)


@pytest.mark.parametrize(
    "name",
    [
        "api-usage",
        "contacts-at-risk",
        "latest-detractor-comments",
        "responses-per-survey",
    ],
)
def test_other_saved_queries_run_on_postgres(warehouse: LoadedPostgres, name: str) -> None:
    run = run_refiner("sql", name, "--destination", "postgres", "--format", "csv")
    assert run.code == 0, run.stderr
    assert len(run.stdout.splitlines()) > 1


def test_refused_statement_exits_2_through_the_cli(warehouse: LoadedPostgres) -> None:
    run = run_refiner(
        "sql", "commit; drop table refiner_raw.responses", "--destination", "postgres"
    )
    assert run.code == 2
    assert run.stderr == "Error: The query must be a single SELECT statement, got 2.\n"


def test_python_api_dtypes_on_postgres(warehouse: LoadedPostgres) -> None:
    frame = query(
        "select uuid, show_counter, completed_at from refiner_raw.responses",
        destination="postgres",
    )
    assert str(frame["completed_at"].dt.tz) == "UTC"
    assert frame["show_counter"].dtype == "int64"
    completed = sum(1 for r in warehouse.emulator.store.responses.values() if r["completed_at"])
    assert len(frame) == completed


def test_describe_on_postgres(warehouse: LoadedPostgres) -> None:
    tables = {(t.schema, t.name): t for t in describe_warehouse(destination="postgres")}
    contacts = tables[("refiner_raw", "contacts")]
    assert contacts.row_count == len(warehouse.emulator.store.contacts)
    assert tables[("refiner_analytics", "contact_traits")].description.startswith(
        "Traits computed from survey answers"
    )
