"""`refiner sql` on DuckDB: every format against known rows and the emulator's answers, the row
cap, SQL from a file or stdin, saved queries, and one-line errors with their exit codes."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.cli_run import run_refiner
from tests.query.helpers import (
    KNOWN_ROWS,
    Loaded,
    assert_nps_by_week,
    file_digest,
    writer_holding,
)

KNOWN = "select * from refiner_raw.known order by id"
SAVED = (
    "api-usage",
    "contacts-at-risk",
    "latest-detractor-comments",
    "nps-by-week",
    "responses-per-survey",
)
ANSWERS = (
    "select response_uuid, question_identifier, value_text from refiner_raw.response_answers "
    "where value_text is not null order by response_uuid, question_identifier, position"
)


def _read(path: Path, sql: str) -> list[tuple[object, ...]]:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_csv_quotes_commas_quotes_newlines_and_unicode(known: Path) -> None:
    run = run_refiner("sql", KNOWN, "--duckdb-path", str(known), "--format", "csv")
    assert run.code == 0, run.stderr
    rows = list(csv.reader(io.StringIO(run.stdout, newline="")))
    assert rows[0] == ["id", "answer", "answered_at", "score"]
    assert [row[1] for row in rows[1:]] == [row[1] or "" for row in KNOWN_ROWS]
    assert rows[1] == ["1", "plain", "2024-05-01 10:00:00.000000Z", "1.50"]
    assert rows[2][2:] == ["2024-05-02 23:59:59.500000Z", ""]
    assert rows[4] == ["4", "", "", "0.00"]


def test_csv_of_the_emulators_answers_round_trips(loaded: Loaded, tmp_path: Path) -> None:
    output = tmp_path / "answers.csv"
    run = run_refiner(
        "sql",
        ANSWERS,
        "--duckdb-path",
        str(loaded.path),
        "--format",
        "csv",
        "--output",
        str(output),
    )
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    with output.open(encoding="utf-8", newline="") as handle:
        rows = [tuple(row) for row in csv.reader(handle)][1:]
    expected = _read(loaded.path, ANSWERS)
    assert rows == expected
    texts = [row[2] for row in rows]
    assert any("\n" in text for text in texts)
    assert any(not text.isascii() for text in texts)
    assert any('"' in text or "“" in text for text in texts)


def test_json_lines_of_known_rows(known: Path) -> None:
    run = run_refiner("sql", KNOWN, "--duckdb-path", str(known), "--format", "json")
    assert run.code == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert records[0] == {
        "id": 1,
        "answer": "plain",
        "answered_at": "2024-05-01T10:00:00+00:00",
        "score": 1.5,
    }
    assert records[1]["answered_at"] == "2024-05-02T23:59:59.500000+00:00"
    assert records[2]["answer"] == "line one\nline two\r\nthree"
    assert records[3] == {"id": 4, "answer": None, "answered_at": None, "score": 0.0}
    assert '"score":1.50' in run.stdout.splitlines()[0]


def test_parquet_keeps_types_and_needs_output(known: Path, tmp_path: Path) -> None:
    output = tmp_path / "known.parquet"
    run = run_refiner(
        "sql", KNOWN, "--duckdb-path", str(known), "--format", "parquet", "--output", str(output)
    )
    assert run.code == 0, run.stderr
    table = pq.read_table(output)
    assert table.column("answer").to_pylist() == [row[1] for row in KNOWN_ROWS]
    assert str(table.schema.field("answered_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("score").type) == "decimal128(6, 2)"
    missing = run_refiner("sql", KNOWN, "--duckdb-path", str(known), "--format", "parquet")
    assert missing.code == 2
    assert "add --output" in missing.stderr


def test_table_shows_first_rows_of_all(loaded: Loaded) -> None:
    total = _read(loaded.path, "select count(*) from refiner_raw.responses")[0][0]
    run = run_refiner(
        "sql",
        "select uuid from refiner_raw.responses order by uuid",
        "--duckdb-path",
        str(loaded.path),
        "--max-rows",
        "5",
    )
    assert run.code == 0, run.stderr
    assert f"first 5 of {total} rows" in run.stdout
    first = [row[0] for row in _read(loaded.path, "select uuid from refiner_raw.responses")]
    shown = re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", run.stdout)
    assert shown == sorted(first)[:5]
    none = run_refiner("sql", "select 1 as x", "--duckdb-path", str(loaded.path), "--max-rows", "0")
    assert none.stdout.endswith("first 0 of 1 rows (--max-rows to show more)\n")
    one = run_refiner("sql", "select 1 as x", "--duckdb-path", str(loaded.path))
    assert one.stdout.endswith("│ 1 │\n└───┘\n1 row\n")


def test_max_rows_caps_csv_and_json(known: Path) -> None:
    options = ("--duckdb-path", str(known), "--max-rows", "2")
    as_csv = run_refiner("sql", KNOWN, *options, "--format", "csv")
    assert [row[0] for row in csv.reader(io.StringIO(as_csv.stdout, newline=""))] == [
        "id",
        "1",
        "2",
    ]
    as_json = run_refiner("sql", KNOWN, *options, "--format", "json")
    assert [json.loads(line)["id"] for line in as_json.stdout.splitlines()] == [1, 2]
    nothing = run_refiner(
        "sql", KNOWN, "--duckdb-path", str(known), "--format", "csv", "--max-rows", "0"
    )
    assert nothing.stdout == '"id","answer","answered_at","score"\n'


def test_csv_streams_more_rows_than_one_batch(known: Path) -> None:
    run = run_refiner(
        "sql", "select range as n from range(25001)", "--duckdb-path", str(known), "--format", "csv"
    )
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == '"n"'
    assert lines[1:] == [str(n) for n in range(25001)]


def test_sql_from_a_file_and_from_stdin(known: Path, tmp_path: Path) -> None:
    script = tmp_path / "count.sql"
    script.write_text("-- how many\nselect count(*) as n from refiner_raw.known;\n")
    from_file = run_refiner(
        "sql", "-f", str(script), "--duckdb-path", str(known), "--format", "csv"
    )
    assert from_file.stdout == '"n"\n4\n'
    from_stdin = run_refiner(
        "sql", "--duckdb-path", str(known), "--format", "csv", stdin=script.read_text()
    )
    assert from_stdin.stdout == '"n"\n4\n'
    both = run_refiner("sql", "select 1", "-f", str(script), "--duckdb-path", str(known))
    assert both.code == 2


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("drop table refiner_raw.known", "must be a SELECT statement, got DROP"),
        ("insert into refiner_raw.known values (5, 'x', null, 1)", "got INSERT"),
        ("select 1; drop table refiner_raw.known", "single SELECT statement, got 2"),
        ("select * from read_csv('/etc/passwd')", "read_csv() is not allowed"),
        ("copy refiner_raw.known to 'out.csv'", "got COPY"),
        ("attach 'other.duckdb' as other", "must be a SELECT"),
        (
            "select nope from refiner_raw.known",
            '"nope" not found in FROM clause! (line 1, column 8)',
        ),
    ],
)
def test_refused_or_failing_sql_exits_2_with_one_line(known: Path, sql: str, message: str) -> None:
    before = file_digest(known)
    run = run_refiner("sql", sql, "--duckdb-path", str(known))
    assert run.code == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("Error: ")
    assert message in run.stderr
    assert file_digest(known) == before


def test_busy_file_exits_1_with_try_again(known: Path) -> None:
    with writer_holding(known):
        run = run_refiner("sql", "select 1", "--duckdb-path", str(known))
    assert run.code == 1
    assert "busy" in run.stderr
    assert "Try again" in run.stderr


def test_list_shows_every_saved_query() -> None:
    run = run_refiner("sql", "--list")
    assert run.code == 0
    for name in SAVED:
        assert name in run.stdout
    assert "NPS per survey and week" in run.stdout


def test_unknown_saved_query_names_the_choices(known: Path) -> None:
    run = run_refiner("sql", "nps-by-month", "--duckdb-path", str(known))
    assert run.code == 2
    assert "No saved query named 'nps-by-month'; choose one of api-usage" in run.stderr


@pytest.mark.parametrize("name", SAVED)
def test_every_saved_query_runs(loaded: Loaded, name: str) -> None:
    run = run_refiner("sql", name, "--duckdb-path", str(loaded.path), "--format", "json")
    assert run.code == 0, run.stderr
    assert run.stdout.strip(), f"{name} returned no rows"


def test_nps_by_week_matches_the_emulator(loaded: Loaded) -> None:
    run = run_refiner("sql", "nps-by-week", "--duckdb-path", str(loaded.path), "--format", "json")
    assert run.code == 0, run.stderr
    assert_nps_by_week(run.stdout, loaded.emulator)


def test_api_usage_reads_the_latest_snapshot(loaded: Loaded) -> None:
    run = run_refiner("sql", "api-usage", "--duckdb-path", str(loaded.path), "--format", "json")
    records = {record["metric"]: record for record in map(json.loads, run.stdout.splitlines())}
    usage = _read(
        loaded.path,
        "select plan, msr_count, msr_limit, mte_count from refiner_raw.account_usage "
        "order by snapshot_at desc limit 1",
    )[0]
    plan, msr_count, msr_limit, mte_count = usage
    assert set(records) == {"MTU", "MTE", "MPV", "MSR"}
    msr = records["MSR"]
    assert (msr["plan"], msr["used"], msr["plan_limit"]) == (plan, msr_count, msr_limit)
    assert msr["percent_used"] == round(100 * msr_count / msr_limit, 1)
    assert (records["MTE"]["used"], records["MTE"]["plan_limit"]) == (mte_count, None)
