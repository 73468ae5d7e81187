"""`refiner push-traits` end to end: DuckDB in tmp_path, real HTTP to the emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb

from emulator import Emulator
from tests.sync.helpers import Run, identify_requests, query, trait_rows, write_traits

SENTINEL_KEY = "0badc0de-5e47-11ee-8c99-0242ac120002"


def counts(stdout: str) -> dict[str, int]:
    """`name  number` rows of the rich summary tables."""
    return {
        name.strip(): int(number)
        for name, number in re.findall(r"│ ([a-z ()]+?)\s+│\s+(\d+) │", stdout)
    }


def contact(emulator: Emulator, remote_id: str) -> dict:
    return next(c for c in emulator.store.contacts.values() if c["remote_id"] == remote_id)


def test_push_sets_traits_with_values_and_types(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    rows = trait_rows(emulator, 12)
    write_traits(duckdb_path, rows)
    emulator.request_log.clear()

    result = run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path))

    assert result.exit_code == 0, result.stdout + result.stderr
    assert counts(result.stdout) | {} == {
        "sent": 12, "succeeded": 12, "failed": 0, "skipped": 0, "unchanged": 0
    }  # fmt: skip
    assert len(identify_requests(emulator)) == 12
    for row in rows:
        attributes = contact(emulator, row[1])["attributes"]
        assert attributes["latest_nps_score"] == row[3]
        assert isinstance(attributes["latest_nps_score"], int)
        assert attributes["latest_nps_category"] == row[4]
        assert attributes["responses_last_90d"] == row[5]
        assert attributes["last_response_at"] == row[6].strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        assert attributes["avg_csat"] == row[7]
        assert isinstance(attributes["avg_csat"], float)
        assert attributes["feedback_health"] == row[8]
        assert "email" not in attributes and "contact_uuid" not in attributes
    log = query(duckdb_path, "SELECT status, operation, count(*) FROM refiner_raw.refiner_sync_log "
                             "GROUP BY ALL")  # fmt: skip
    assert log == [("succeeded", "identify-user", 12)]
    state = query(duckdb_path, "SELECT count(*) FROM refiner_raw.refiner_sync_state")
    assert state == [(12,)]


def test_second_push_sends_nothing_and_one_change_sends_one(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    rows = trait_rows(emulator, 10)
    write_traits(duckdb_path, rows)
    assert run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path)).exit_code == 0
    emulator.request_log.clear()

    again = run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path))
    assert again.exit_code == 0
    assert len(emulator.request_log) == 0
    assert counts(again.stdout)["unchanged"] == 10

    with duckdb.connect(str(duckdb_path)) as connection:
        connection.execute(
            "UPDATE refiner_analytics.contact_traits SET latest_nps_score = 10 WHERE remote_id = ?",
            [rows[3][1]],
        )
    changed = run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path))
    assert changed.exit_code == 0
    sent = identify_requests(emulator)
    assert len(sent) == 1 == len(emulator.request_log)
    assert sent[0].params["id"] == rows[3][1]
    assert sent[0].params["latest_nps_score"] == 10
    assert contact(emulator, rows[3][1])["attributes"]["latest_nps_score"] == 10
    assert counts(changed.stdout)["unchanged"] == 9


def test_bad_rows_fail_with_reasons_and_the_rest_are_pushed(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    rows = trait_rows(emulator, 8)
    no_identifier = (None, None, None, 5, "passive", 1, None, None, "ok")
    too_long = (*rows[1][:4], "x" * 300, *rows[1][5:])
    duplicate = rows[2]
    write_traits(duckdb_path, [rows[0], too_long, *rows[2:], no_identifier, duplicate])
    emulator.request_log.clear()

    result = run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path))

    assert result.exit_code == 1
    assert "missing identifier" in result.stdout
    assert "300 characters long" in result.stdout
    assert "duplicate identifier" in result.stdout
    pushed = {e.params["id"] for e in identify_requests(emulator)}
    assert pushed == {row[1] for row in rows} - {rows[1][1], rows[2][1]}
    assert counts(result.stdout)["succeeded"] == 6
    assert counts(result.stdout)["failed"] == 4
    invalid = query(
        duckdb_path,
        "SELECT identifier, error FROM refiner_raw.refiner_sync_log WHERE status = 'invalid' "
        "ORDER BY identifier NULLS FIRST",
    )
    assert [identifier for identifier, _ in invalid] == [None, rows[1][1], rows[2][1], rows[2][1]]
    assert all(error for _, error in invalid)


def test_dry_run_sends_nothing_and_counts(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    rows = trait_rows(emulator, 6)
    write_traits(duckdb_path, rows[:4])
    assert run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path)).exit_code == 0
    changed = (*rows[0][:3], 10, *rows[0][4:])
    write_traits(duckdb_path, [changed, *rows[1:], (None, None, None, 1, "a", 1, None, 1.0, "x")])
    emulator.request_log.clear()

    result = run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path), "--dry-run")

    assert result.exit_code == 0
    assert len(emulator.request_log) == 0
    summary, *rest = [json.loads(line) for line in result.stdout.splitlines()]
    assert summary == {
        "dry_run": "push-traits", "sync_name": "contact_traits",
        "new": 2, "changed": 1, "unchanged": 3, "invalid": 1, "skipped": 0,
    }  # fmt: skip
    assert rows[0][1] in {line["sample"].get("id") for line in rest if "sample" in line}
    assert query(duckdb_path, "SELECT count(*) FROM refiner_raw.refiner_sync_log") == [(4,)]


def test_max_changes_refuses_then_proceeds_with_yes(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    write_traits(duckdb_path, trait_rows(emulator, 6))
    emulator.request_log.clear()

    refused = run_cli(
        emulator, "push-traits", "--duckdb-path", str(duckdb_path), "--max-changes", "5"
    )
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr and "6 rows" in refused.stderr
    assert len(emulator.request_log) == 0

    confirmed = run_cli(
        emulator, "push-traits", "--duckdb-path", str(duckdb_path), "--max-changes", "5", "--yes"
    )
    assert confirmed.exit_code == 0
    assert len(identify_requests(emulator)) == 6


def test_mapping_options_and_hostile_names(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    rows = trait_rows(emulator, 3)
    write_traits(duckdb_path, rows)
    hostile = 'x"; drop table refiner_analytics.contact_traits; --'
    quoted = '"' + hostile.replace('"', '""') + '"'
    sql = (
        f"select remote_id, latest_nps_score, 'it''s \"q\"' as {quoted}, "
        "'acct-9' as acct, 'Nine' as acct_name from refiner_analytics.contact_traits"
    )
    emulator.request_log.clear()
    result = run_cli(
        emulator, "push-traits", "--duckdb-path", str(duckdb_path), "--sql", sql,
        "--map", "latest_nps_score=nps_score", "--account-map", "acct=id",
        "--account-map", "acct_name=name",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    attributes = contact(emulator, rows[0][1])["attributes"]
    assert attributes["nps_score"] == rows[0][3]
    assert attributes[hostile] == 'it\'s "q"'
    assert contact(emulator, rows[0][1])["account"]["remote_id"] == "acct-9"
    assert query(duckdb_path, "SELECT count(*) FROM refiner_analytics.contact_traits") == [(3,)]
    state = query(duckdb_path, "SELECT DISTINCT sync_name FROM refiner_raw.refiner_sync_state")
    assert state == [("sql",)]


def test_unsafe_sql_and_names_are_refused(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    write_traits(duckdb_path, trait_rows(emulator, 2))
    emulator.request_log.clear()
    for args in (
        ["--sql", "select * from refiner_analytics.contact_traits; drop table x"],
        ["--sql", "delete from refiner_analytics.contact_traits"],
        ["--model", 'contact_traits"; drop table x; --'],
        ["--table", "refiner_analytics.contact_traits;drop"],
        ["--dataset", "refiner; drop"],
        ["--analytics-schema", "a.b"],
    ):
        result = run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path), *args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("Error: ")
    assert len(emulator.request_log) == 0
    assert query(duckdb_path, "SELECT count(*) FROM refiner_analytics.contact_traits") == [(2,)]


def test_missing_model_says_what_to_run(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    write_traits(duckdb_path, [])
    result = run_cli(emulator, "push-traits", "--duckdb-path", str(duckdb_path), "--model", "nope")
    assert result.exit_code == 2
    assert "refiner transform" in result.stderr


def test_key_never_in_output_or_log(make_emulator: object, duckdb_path: Path, run_cli: Run) -> None:
    emulator = make_emulator(api_keys=(SENTINEL_KEY,))  # type: ignore[operator]
    rows = trait_rows(emulator, 4)
    write_traits(duckdb_path, [*rows, (None, None, None, 1, "a", 1, None, 1.0, "x")])
    emulator.faults.add(kind="status", status=400, path="/identify-user", times=1,
                        body={"error": f"bad request for {SENTINEL_KEY}"})  # fmt: skip
    result = run_cli(
        emulator, "--debug", "push-traits", "--duckdb-path", str(duckdb_path), api_key=SENTINEL_KEY
    )
    assert result.exit_code == 1
    assert counts(result.stdout)["failed"] == 2
    text = " ".join(
        str(value)
        for row in query(duckdb_path, "SELECT * FROM refiner_raw.refiner_sync_log")
        for value in row
    )
    assert "bad request for" in text
    for output in (result.stdout, result.stderr, text):
        assert SENTINEL_KEY not in output
