"""The read-only engine on DuckDB: results, refusals with the file unchanged, the connection's
own guard, SQL errors with their position, the timeout, and a file held by a writer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import ConfigError
from pipelines.query.engine import (
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    WarehouseBusy,
    describe_warehouse,
    duckdb_connection,
    run_query,
    stream_query,
)
from tests.query.helpers import Loaded, file_digest, writer_holding

SLOW_QUERY = "select count(*) from range(100000000000) as a"

ESCAPES = {
    "create": "create table refiner_raw.evil as select 1 as x",
    "drop": "drop table refiner_raw.known",
    "alter": "alter table refiner_raw.known add column evil int",
    "insert": "insert into refiner_raw.known values (9, 'x', null, 0)",
    "update": "update refiner_raw.known set answer = 'x'",
    "delete": "delete from refiner_raw.known",
    "multi": "select 1; drop table refiner_raw.known",
    "commit-escape": "commit; drop table refiner_raw.known",
    "cte-delete": "with d as (delete from refiner_raw.known returning *) select * from d",
    "select-into": "select * into refiner_raw.copy from refiner_raw.known",
    "read_csv": "select * from read_csv('/etc/passwd')",
    "read_text": "select * from read_text('/etc/passwd')",
    "copy": "copy refiner_raw.known to '/tmp/refiner-escape.csv'",
    "attach": "attach '/tmp/refiner-escape.duckdb' as escape",
    "install": "install httpfs",
    "load": "load httpfs",
    "set": "set enable_external_access = true",
    "pragma": "pragma database_list",
    "empty": "",
}


def test_known_rows_come_back_typed(known: Path) -> None:
    result = run_query("select * from refiner_raw.known order by id", duckdb_path=str(known))
    assert result.columns == ["id", "answer", "answered_at", "score"]
    assert result.types == ["INTEGER", "VARCHAR", "TIMESTAMP WITH TIME ZONE", "DECIMAL(6,2)"]
    assert [row[0] for row in result.rows] == [1, 2, 3, 4]
    assert result.rows[2][1] == "line one\nline two\r\nthree"
    assert result.rows[0][2] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert result.rows[0][2].utcoffset().total_seconds() == 0
    assert result.rows[0][3] == Decimal("1.50")
    assert result.rows[3][1:3] == (None, None)
    assert (result.truncated, result.total_rows) == (False, 4)


def test_max_rows_truncates_and_counts_the_rest(known: Path) -> None:
    result = run_query("select * from range(25000) order by 1", duckdb_path=str(known), max_rows=3)
    assert [row[0] for row in result.rows] == [0, 1, 2]
    assert (result.truncated, result.total_rows) == (True, 25000)
    uncounted = run_query(
        "select * from range(25000)", duckdb_path=str(known), max_rows=3, count_rows=False
    )
    assert (len(uncounted.rows), uncounted.truncated, uncounted.total_rows) == (3, True, None)
    exact = run_query("select * from range(3)", duckdb_path=str(known), max_rows=3)
    assert (exact.truncated, exact.total_rows) == (False, 3)


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escapes_are_refused_and_the_file_is_unchanged(known: Path, name: str) -> None:
    before = file_digest(known)
    with pytest.raises(QueryRefused) as refused:
        run_query(ESCAPES[name], duckdb_path=str(known))
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("The query ")
    assert file_digest(known) == before
    assert not Path("/tmp/refiner-escape.csv").exists()
    rows = run_query("select count(*) from refiner_raw.known", duckdb_path=str(known)).rows
    assert rows == [(4,)]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("select * from read_csv('/etc/passwd')", "file system operations are disabled"),
        ("copy refiner_raw.known to '/tmp/refiner-escape.csv'", "disabled"),
        ("attach '/tmp/refiner-escape.duckdb' as escape", "disabled"),
        ("install httpfs", "disabled"),
        ("load httpfs", "disabled"),
        ("set enable_external_access = true", "locked"),
        ("set TimeZone = 'Europe/Paris'", "locked"),
        ("create table refiner_raw.evil (x int)", "read-only"),
        ("insert into refiner_raw.known values (9, 'x', null, 0)", "read-only"),
    ],
)
def test_the_connection_refuses_what_the_parser_might_miss(
    known: Path, statement: str, message: str
) -> None:
    """The second guard on its own: the statement goes straight to the sandboxed connection."""
    before = file_digest(known)
    with duckdb_connection(str(known)) as connection, pytest.raises(duckdb.Error) as refused:
        connection.execute(statement)
    assert message in str(refused.value)
    assert file_digest(known) == before
    assert not Path("/tmp/refiner-escape.csv").exists()
    assert not Path("/tmp/refiner-escape.duckdb").exists()


def test_sql_error_is_one_line_with_duckdb_position(known: Path) -> None:
    with pytest.raises(QueryFailed) as failed:
        run_query("select\n  id,\n  nope\nfrom refiner_raw.known", duckdb_path=str(known))
    message = str(failed.value)
    assert "\n" not in message
    assert 'Referenced column "nope" not found' in message
    assert message.endswith("(line 3, column 3)")


def test_position_is_found_in_a_long_line(known: Path) -> None:
    columns = ", ".join(f"{i} as c{i}" for i in range(60))
    sql = f"select {columns}, nope from refiner_raw.known"
    with pytest.raises(QueryFailed) as failed:
        run_query(sql, duckdb_path=str(known))
    assert str(failed.value).endswith(f"(line 1, column {sql.index('nope') + 1})")


def test_unparsable_sql_is_refused_with_its_position(known: Path) -> None:
    with pytest.raises(QueryRefused, match=r"not valid SQL: .*\(line 1, column 10\)"):
        run_query("select 1 +", duckdb_path=str(known))


def test_timeout_interrupts_the_query(known: Path) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"longer than 0\.5 s"):
        run_query(SLOW_QUERY, duckdb_path=str(known), timeout_s=0.5)
    assert time.monotonic() - started < 5
    with pytest.raises(QueryTimeout):
        list(stream_query(SLOW_QUERY, duckdb_path=str(known), timeout_s=0.5))


def test_a_file_held_by_a_writer_is_busy_at_once(known: Path) -> None:
    with writer_holding(known):
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match=r"busy.*Try again"):
            run_query("select 1", duckdb_path=str(known))
        assert time.monotonic() - started < 2
    assert run_query("select count(*) from writer_marker", duckdb_path=str(known)).rows == [(1,)]


def test_missing_file_says_to_load_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; run `refiner load` first"):
        run_query("select 1", duckdb_path=str(tmp_path / "none.duckdb"))
    assert not (tmp_path / "none.duckdb").exists()


def test_duckdb_path_defaults_like_load(known: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(known))
    assert run_query("select count(*) from refiner_raw.known").rows == [(4,)]
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS")
    monkeypatch.chdir(known.parent)
    known.rename(known.parent / "refiner.duckdb")
    assert run_query("select count(*) from refiner_raw.known").rows == [(4,)]


def test_stream_yields_all_rows_and_a_schema_when_empty(known: Path) -> None:
    batches = list(stream_query("select * from range(25) r", duckdb_path=str(known), batch_rows=10))
    assert sum(batch.num_rows for batch in batches) == 25
    empty = list(
        stream_query("select * from refiner_raw.known where id < 0", duckdb_path=str(known))
    )
    assert [batch.num_rows for batch in empty] == [0]
    assert empty[0].schema.names == ["id", "answer", "answered_at", "score"]
    assert str(empty[0].schema.field("answered_at").type) == "timestamp[us, tz=UTC]"


def test_stream_refuses_before_running(known: Path) -> None:
    with pytest.raises(QueryRefused):
        stream_query("drop table refiner_raw.known", duckdb_path=str(known))


def test_describe_lists_tables_columns_counts_and_mart_descriptions(loaded: Loaded) -> None:
    tables = {(t.schema, t.name): t for t in describe_warehouse(duckdb_path=str(loaded.path))}
    responses = tables[("refiner_raw", "responses")]
    completed = sum(1 for r in loaded.emulator.store.responses.values() if r["completed_at"])
    assert responses.row_count == completed
    assert {"uuid", "form_uuid", "completed_at"} <= {c.name for c in responses.columns}
    assert responses.description == "One row per survey response or view (merge on uuid)."
    nps = tables[("refiner_analytics", "nps_daily")]
    assert nps.description == (
        "Net Promoter Score per survey and UTC day, recomputed from the raw answers."
    )
    assert [(c.name, c.type) for c in nps.columns][:2] == [
        ("form_uuid", "VARCHAR"),
        ("response_day", "DATE"),
    ]
    assert not any(name.startswith("_dlt") for _, name in tables)
