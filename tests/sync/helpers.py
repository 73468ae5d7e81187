"""Helpers of the reverse-sync tests: a contact_traits table in DuckDB, a CLI runner, queries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from emulator import Emulator

TRAIT_COLUMNS = (
    "contact_uuid VARCHAR, remote_id VARCHAR, email VARCHAR, latest_nps_score INTEGER, "
    "latest_nps_category VARCHAR, responses_last_90d BIGINT, last_response_at TIMESTAMPTZ, "
    "avg_csat DOUBLE, feedback_health VARCHAR"
)


BASE_TIME = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def trait_rows(emulator: Emulator, count: int) -> list[tuple[Any, ...]]:
    """Rows for the first `count` emulator contacts that have a remote id, in a fixed order."""
    contacts = sorted(
        (c for c in emulator.store.contacts.values() if c["remote_id"]),
        key=lambda c: c["remote_id"],
    )[:count]
    assert len(contacts) == count
    return [
        (
            c["uuid"],
            c["remote_id"],
            c["email"],
            index % 11,
            "promoter" if index % 11 >= 9 else "passive" if index % 11 >= 7 else "detractor",
            index % 4,
            BASE_TIME + timedelta(hours=index),
            round(3 + (index % 3) * 0.5, 2),
            "healthy" if index % 2 else "at_risk",
        )
        for index, c in enumerate(contacts)
    ]


def write_traits(path: Path, rows: Sequence[tuple[Any, ...]], *, replace: bool = True) -> None:
    """(Re)create refiner_analytics.contact_traits in the DuckDB file at `path`."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS refiner_analytics")
        if replace:
            connection.execute(
                f"CREATE OR REPLACE TABLE refiner_analytics.contact_traits ({TRAIT_COLUMNS})"
            )
        if rows:
            connection.executemany(
                "INSERT INTO refiner_analytics.contact_traits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [list(row) for row in rows],
            )


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` run on the DuckDB file at `path`."""
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def identify_requests(emulator: Emulator) -> list[Any]:
    """Entries of the request log that reached identify-user."""
    return [e for e in emulator.request_log if e.path == "/identify-user"]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


Run = Callable[..., CliResult]
