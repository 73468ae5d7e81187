"""describe_warehouse and query_warehouse on a real DuckDB file (and PostgreSQL when set up)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.mcp.helpers import (
    RESPONSE_ROWS,
    MakeServer,
    audit_lines,
    call,
    error_text,
    make_warehouse,
    ok,
    warehouse_fingerprint,
)
from tests.ports import free_port
from tests.warehouse import fresh_postgres_database, requires_postgres


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return make_warehouse(tmp_path / "refiner.duckdb")


def test_describe_warehouse(make_server: MakeServer, warehouse: Path) -> None:
    tables = ok(call(make_server(duckdb_path=warehouse), "describe_warehouse"))["tables"]
    by_name = {(t["schema"], t["name"]): t for t in tables}
    assert set(by_name) == {("refiner_raw", "responses"), ("refiner_analytics", "nps_daily")}
    responses = by_name["refiner_raw", "responses"]
    assert responses["row_count"] == RESPONSE_ROWS
    assert [c["name"] for c in responses["columns"]] == ["uuid", "score", "note"]
    assert responses["columns"][1]["type"] == "BIGINT"
    mart = by_name["refiner_analytics", "nps_daily"]
    assert mart["description"].startswith("Net Promoter Score per survey and UTC day")
    assert "\n" not in mart["description"]


def test_describe_warehouse_reads_the_configured_schemas(
    make_server: MakeServer, warehouse: Path
) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("CREATE SCHEMA team_raw")
        connection.execute("CREATE TABLE team_raw.forms AS SELECT 'f1' AS uuid")
    server = make_server(duckdb_path=warehouse, schemas=("team_raw", "refiner_analytics"))
    tables = ok(call(server, "describe_warehouse"))["tables"]
    assert {(t["schema"], t["name"]) for t in tables} == {
        ("team_raw", "forms"),
        ("refiner_analytics", "nps_daily"),
    }


def test_query_returns_rows_with_columns_and_types(
    make_server: MakeServer, warehouse: Path
) -> None:
    result = ok(
        call(
            make_server(duckdb_path=warehouse),
            "query_warehouse",
            sql="SELECT count(*) AS n, max(score) AS top FROM refiner_raw.responses",
        )
    )
    assert result["columns"] == ["n", "top"]
    assert result["types"] == ["BIGINT", "BIGINT"]
    assert result["rows"] == [[RESPONSE_ROWS, RESPONSE_ROWS - 1]]
    assert result["truncated"] is False and result["truncated_by"] is None


def test_row_cap(make_server: MakeServer, warehouse: Path) -> None:
    server = make_server(duckdb_path=warehouse)
    capped = ok(
        call(server, "query_warehouse", sql="SELECT * FROM refiner_raw.responses", max_rows=5)
    )
    assert capped["row_count"] == len(capped["rows"]) == 5
    assert capped["truncated"] is True and capped["truncated_by"] == "max_rows"
    whole = ok(call(server, "query_warehouse", sql="SELECT * FROM refiner_raw.responses"))
    assert whole["row_count"] == RESPONSE_ROWS and whole["truncated"] is False
    too_many = call(server, "query_warehouse", sql="SELECT 1", max_rows=1001)
    assert too_many.is_error


def test_character_cap(make_server: MakeServer, warehouse: Path) -> None:
    server = make_server(duckdb_path=warehouse, max_chars=600)
    result = ok(call(server, "query_warehouse", sql="SELECT * FROM refiner_raw.responses"))
    assert 0 < result["row_count"] < RESPONSE_ROWS
    assert result["truncated"] is True and result["truncated_by"] == "max_chars"
    assert len(json.dumps(result["rows"], separators=(",", ":"))) <= 600


def test_timeout_interrupts_the_query(make_server: MakeServer, warehouse: Path) -> None:
    server = make_server(duckdb_path=warehouse, timeout_s=0.5)
    started = time.monotonic()
    result = call(
        server,
        "query_warehouse",
        sql="SELECT count(*) FROM range(200000) a, range(200000) b WHERE a.range + b.range < 0",
    )
    assert time.monotonic() - started < 10
    assert result.is_error and "ran longer than 0.5 s" in error_text(result)


SECRET_LINE = "root:x:0:0:sentinel"

# Refused: sqlglot's parse rejects them before a connection is opened. Failed: they pass the
# parse and the read-only connection itself refuses them (external access is off).
ESCAPES = {
    "read_csv": ("SELECT * FROM read_csv('{secret}')", "refused"),
    "replacement scan of a file": ("SELECT * FROM '{secret}'", "failed"),
    "copy out": ("COPY refiner_raw.responses TO '{out}'", "refused"),
    "copy out of a select": ("COPY (SELECT * FROM refiner_raw.responses) TO '{out}'", "refused"),
    "attach": ("ATTACH '{out}' AS other", "refused"),
    "install": ("INSTALL httpfs", "refused"),
    "load": ("LOAD httpfs", "refused"),
    "set": ("SET enable_external_access = true", "refused"),
    "drop": ("DROP TABLE refiner_raw.responses", "refused"),
    "stacked statements": ("SELECT 1; DROP TABLE refiner_raw.responses", "refused"),
    "create": ("CREATE TABLE refiner_raw.stolen AS SELECT * FROM refiner_raw.responses", "refused"),
    "delete in a CTE": (
        "WITH gone AS (DELETE FROM refiner_raw.responses RETURNING *) SELECT * FROM gone",
        "refused",
    ),
    "pragma": ("PRAGMA enable_profiling", "refused"),
}


@pytest.mark.parametrize(("sql", "outcome"), ESCAPES.values(), ids=ESCAPES.keys())
def test_sql_escapes_are_refused_and_change_nothing(
    make_server: MakeServer,
    warehouse: Path,
    tmp_path: Path,
    audit_path: Path,
    sql: str,
    outcome: str,
) -> None:
    out = tmp_path / "out.csv"
    secret = tmp_path / "passwd.csv"
    secret.write_text(f"line\n{SECRET_LINE}\n")
    statement = sql.format(out=out, secret=secret)
    before = warehouse_fingerprint(warehouse)
    result = call(make_server(duckdb_path=warehouse), "query_warehouse", sql=statement)
    assert result.is_error
    text = error_text(result)
    assert "\n" not in text and SECRET_LINE not in text
    assert warehouse_fingerprint(warehouse) == before
    assert not out.exists()
    [line] = audit_lines(audit_path)
    assert (line["outcome"], line["arguments"]) == (outcome, {"sql": statement})


def test_an_unreachable_postgres_is_a_one_line_tool_error_without_the_password(
    make_server: MakeServer, audit_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "pw-sentinel-mcp-2b7e"
    port = free_port()
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS",
        f"postgresql://reader:{password}@127.0.0.1:{port}/refiner",
    )
    server = make_server(destination="postgres")
    for tool, arguments in (("query_warehouse", {"sql": "SELECT 1"}), ("describe_warehouse", {})):
        result = call(server, tool, **arguments)
        assert result.is_error
        text = error_text(result)
        reason = text.removeprefix(f"Error executing tool {tool}: ")
        assert reason.startswith("Cannot reach the PostgreSQL warehouse (connection to server")
        assert f"port {port} failed: Connection refused" in text
        assert "\n" not in text
    assert [line["outcome"] for line in audit_lines(audit_path)] == ["failed", "failed"]
    assert password not in audit_path.read_text()


def test_statements_that_are_not_select_are_refused_before_running(
    make_server: MakeServer, warehouse: Path, audit_path: Path
) -> None:
    server = make_server(duckdb_path=warehouse)
    for sql in ("DROP TABLE refiner_raw.responses", "SELECT 1; SELECT 2", "INSTALL httpfs"):
        assert call(server, "query_warehouse", sql=sql).is_error
    assert [line["outcome"] for line in audit_lines(audit_path)] == ["refused"] * 3


def _hold_lock(warehouse: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that opens the file for writing, as a load does, for `seconds`."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('locked', flush=True); time.sleep(float(sys.argv[2])); c.close()",
            str(warehouse),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_busy_file_says_try_again(make_server: MakeServer, warehouse: Path) -> None:
    holder = _hold_lock(warehouse, 60)
    try:
        started = time.monotonic()
        result = call(make_server(duckdb_path=warehouse), "query_warehouse", sql="SELECT 1")
        assert time.monotonic() - started < 10
        assert result.is_error and "try again" in error_text(result).lower()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_released_within_the_retry_window_is_waited_for(
    make_server: MakeServer, warehouse: Path
) -> None:
    holder = _hold_lock(warehouse, 0.5)
    try:
        result = call(make_server(duckdb_path=warehouse), "query_warehouse", sql="SELECT 7 AS n")
        assert ok(result)["rows"] == [[7]]
    finally:
        holder.wait(timeout=10)


def test_missing_warehouse_is_a_tool_error(make_server: MakeServer) -> None:
    result = call(make_server(), "describe_warehouse")
    assert result.is_error and "refiner load" in error_text(result)


@requires_postgres
@pytest.mark.postgres
def test_postgres_read_only_and_stacked_escape(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2

    with fresh_postgres_database() as database:
        connection = psycopg2.connect(database.url)
        with connection, connection.cursor() as cursor:
            cursor.execute("CREATE SCHEMA refiner_raw")
            cursor.execute(
                "CREATE TABLE refiner_raw.responses AS "
                "SELECT g AS score FROM generate_series(1, 30) g"
            )
        connection.close()
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", database.url)
        server = make_server(destination="postgres", timeout_s=1.0)
        result = ok(
            call(server, "query_warehouse", sql="SELECT sum(score) FROM refiner_raw.responses")
        )
        assert result["rows"] == [[465]]
        for sql in ("COMMIT; DROP TABLE refiner_raw.responses", "DROP TABLE refiner_raw.responses"):
            refused = call(server, "query_warehouse", sql=sql)
            assert refused.is_error and "Refused" in error_text(refused), sql
        slow = call(server, "query_warehouse", sql="SELECT pg_sleep(5)")
        assert slow.is_error and "ran longer than 1" in error_text(slow)
        tables = ok(call(server, "describe_warehouse"))["tables"]
        assert [(t["name"], t["row_count"]) for t in tables] == [("responses", 30)]
