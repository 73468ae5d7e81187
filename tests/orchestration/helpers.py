"""Helpers for the Dagster tests: one warehouse and emulator configured through the same
environment variables the CLI reads, definitions built from them, and in-process runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulator import DEFAULT_API_KEY, Emulator
from pipelines.defaults import DEFAULT_DATASET
from tests.cli_run import run_refiner

SEED: dict[str, Any] = {
    "seed": 31,
    "contacts": 40,
    "accounts": 8,
    "forms": 4,
    "segments": 3,
    "responses": 240,
    "days": 30,
}
# Tables whose content depends only on the emulator's records are compared; not account_usage*,
# a snapshot stamped with the time it was taken.
SNAPSHOT_PREFIX = "account_usage"
WRITE_PATHS = ("/identify-user", "/track-event")


@dataclass(frozen=True)
class Setup:
    """Where this test's runs write: the DuckDB file and dlt's data folder."""

    duckdb_path: Path
    data_dir: Path

    @property
    def pipelines_dir(self) -> Path:
        return self.data_dir / "pipelines"


def configure(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    emulator: Emulator,
    *,
    api_key: str = DEFAULT_API_KEY,
) -> Setup:
    """Point the CLI and the Dagster definitions at `emulator` and a DuckDB file in tmp_path,
    through the environment variables both read."""
    setup = Setup(tmp_path / "refiner.duckdb", tmp_path / "dlt")
    for name, value in {
        "SOURCES__REFINER__API_KEY": api_key,
        "SOURCES__REFINER__BASE_URL": emulator.base_url,
        "SOURCES__REFINER__START_DATE": "2024-01-01",
        "SOURCES__REFINER__PAGE_LENGTH": "25",
        "SOURCES__REFINER__REPORTING_DAYS": "3",
        "DESTINATION__DUCKDB__CREDENTIALS": str(setup.duckdb_path),
        "DLT_DATA_DIR": str(setup.data_dir),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }.items():
        monkeypatch.setenv(name, value)
    return setup


def cli_load(*args: str) -> None:
    """`refiner load` with `args` in-process; fails the test unless it exits 0."""
    run = run_refiner("load", *args)
    assert run.code == 0, run.stderr


def execute_job(name: str, instance: Any = None) -> Any:
    """Build the definitions from the current environment and run job `name` in process (on
    `instance`, default a new ephemeral one)."""
    from dagster import DagsterInstance

    from pipelines.orchestration.definitions import build_definitions

    job = build_definitions().resolve_job_def(name)
    return job.execute_in_process(
        instance=instance or DagsterInstance.ephemeral(), raise_on_error=False
    )


def events_of(result: Any, kind: str) -> list[Any]:
    """The run's events of type `kind` (a DagsterEventType value such as "STEP_FAILURE")."""
    return [event for event in result.all_events if event.event_type_value == kind]


def materializations(result: Any) -> dict[str, dict[str, Any]]:
    """Asset key (user string) -> metadata values of each materialization in a run."""
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found[materialization.asset_key.to_user_string()] = {
            name: value.value for name, value in materialization.metadata.items()
        }
    return found


def reads(emulator: Emulator) -> int:
    """Requests in the emulator's log that are not reverse-sync writes."""
    return sum(1 for entry in emulator.request_log if entry.path not in WRITE_PATHS)


def writes(emulator: Emulator, path: str = "/identify-user") -> int:
    return sum(1 for entry in emulator.request_log if entry.path == path)


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def comparable_tables() -> list[str]:
    from pipelines.orchestration.keys import loaded_tables

    return [table for table in loaded_tables() if not table.startswith(SNAPSHOT_PREFIX)]


def differing_tables(first: Path, second: Path, dataset: str = DEFAULT_DATASET) -> list[str]:
    """Comparable tables whose rows (without dlt's columns) differ between two DuckDB files,
    or that are empty in the first (where equality would prove nothing)."""
    differing = []
    with duckdb.connect() as connection:
        connection.execute(f"ATTACH '{first}' AS a (READ_ONLY)")
        connection.execute(f"ATTACH '{second}' AS b (READ_ONLY)")
        for t in comparable_tables():
            rows = [
                f"SELECT COLUMNS(lambda c: NOT starts_with(c, '_dlt_')) FROM {side}.{dataset}.{t}"
                for side in ("a", "b")
            ]
            (count,) = connection.execute(
                f"SELECT count(*) FROM (({rows[0]} EXCEPT ALL {rows[1]})"
                f" UNION ALL ({rows[1]} EXCEPT ALL {rows[0]}))"
            ).fetchone() or (0,)
            (total,) = connection.execute(f"SELECT count(*) FROM ({rows[0]})").fetchone() or (0,)
            if count or not total:
                differing.append(t)
    return differing
