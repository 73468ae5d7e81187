"""push-events idempotence (DuckDB) and push-traits on PostgreSQL, against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import psycopg2
import pytest

from emulator import Emulator
from tests.sync.helpers import Run, identify_requests, query, trait_rows
from tests.warehouse import fresh_postgres_database, requires_postgres

EVENTS_SQL = (
    "select remote_id as identifier, event, 'k-' || n as row_key from app.activity order by n"
)


def write_events(path: Path, events: list[tuple[int, str, str]]) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS app")
        connection.execute(
            "CREATE OR REPLACE TABLE app.activity (n INTEGER, remote_id VARCHAR, event VARCHAR)"
        )
        connection.executemany("INSERT INTO app.activity VALUES (?, ?, ?)", events)


def test_push_events_sends_each_row_key_once(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    ids = [row[1] for row in trait_rows(emulator, 3)]
    events = [(1, ids[0], "Upgraded plan"), (2, ids[1], "Upgraded plan"), (3, ids[2], "Churned")]
    write_events(duckdb_path, events)
    before = len(emulator.store.events)
    emulator.request_log.clear()

    first = run_cli(emulator, "push-events", "--duckdb-path", str(duckdb_path), "--sql", EVENTS_SQL)
    assert first.exit_code == 0, first.stdout + first.stderr
    sent = [e for e in emulator.request_log if e.path == "/track-event"]
    assert sorted((e.params["id"], e.params["event"]) for e in sent) == sorted(
        (remote_id, event) for _, remote_id, event in events
    )
    assert len(emulator.store.events) == before + 3

    emulator.request_log.clear()
    again = run_cli(emulator, "push-events", "--duckdb-path", str(duckdb_path), "--sql", EVENTS_SQL)
    assert again.exit_code == 0
    assert len(emulator.request_log) == 0

    write_events(duckdb_path, [*events, (4, ids[0], "Renewed")])
    dry = run_cli(
        emulator, "push-events", "--duckdb-path", str(duckdb_path), "--sql", EVENTS_SQL,
        "--dry-run",
    )  # fmt: skip
    assert dry.exit_code == 0
    assert json.loads(dry.stdout.splitlines()[0])["already_sent"] == 3
    assert len(emulator.request_log) == 0
    third = run_cli(emulator, "push-events", "--duckdb-path", str(duckdb_path), "--sql", EVENTS_SQL)
    assert third.exit_code == 0
    assert [(e.params["id"], e.params["event"]) for e in emulator.request_log] == [
        (ids[0], "Renewed")
    ]
    log = query(
        duckdb_path,
        "SELECT status, count(*) FROM refiner_raw.refiner_event_log GROUP BY ALL",
    )
    assert log == [("succeeded", 4)]


@requires_postgres
@pytest.mark.postgres
def test_push_traits_on_postgres(
    emulator: Emulator, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = trait_rows(emulator, 8)
    with fresh_postgres_database() as database:
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", database.url)
        connection = psycopg2.connect(database.url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE SCHEMA refiner_analytics")
            cursor.execute(
                "CREATE TABLE refiner_analytics.contact_traits (contact_uuid text, "
                "remote_id text, email text, latest_nps_score integer, "
                "latest_nps_category text, responses_last_90d bigint, "
                "last_response_at timestamptz, avg_csat numeric(4,2), feedback_health text)"
            )
            cursor.executemany(
                "INSERT INTO refiner_analytics.contact_traits VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        emulator.request_log.clear()
        try:
            first = run_cli(emulator, "push-traits", "--destination", "postgres")
            assert first.exit_code == 0, first.stdout + first.stderr
            assert len(identify_requests(emulator)) == 8
            found = next(
                c for c in emulator.store.contacts.values() if c["remote_id"] == rows[5][1]
            )
            assert found["attributes"]["avg_csat"] == rows[5][7]
            assert found["attributes"]["latest_nps_score"] == rows[5][3]

            emulator.request_log.clear()
            second = run_cli(emulator, "push-traits", "--destination", "postgres")
            assert second.exit_code == 0
            assert len(emulator.request_log) == 0
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT status, count(*) FROM refiner_raw.refiner_sync_log GROUP BY status"
                )
                assert cursor.fetchall() == [("succeeded", 8)]
                cursor.execute("SELECT count(*) FROM refiner_raw.refiner_sync_state")
                assert cursor.fetchall() == [(8,)]
        finally:
            connection.close()
