"""Helpers of the end-to-end load tests (issue 3, "Acceptance, by tests against the
emulator").

Every test loads from the emulator over real HTTP on loopback into a real warehouse: a DuckDB
file in tmp_path, or a throwaway PostgreSQL database. "Correct" always means: counted in the
warehouse, equal to the emulator's ground truth (`emulator.store`). Trace metrics and the
CLI summary are never trusted for correctness.

`refiner load` runs in-process through `pipelines.cli.main` (fast), or as a subprocess where a
test needs to kill it or to see exactly what a user sees on the terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from pipelines.defaults import DEFAULT_DATASET
from tests.cli_run import CliRun, run_refiner
from tests.warehouse import fresh_postgres_database, requires_postgres

REPO = Path(__file__).resolve().parents[2]
REFINER = [sys.executable, "-m", "pipelines.cli"]
DATASET = DEFAULT_DATASET

# Small enough for loads of a few seconds; page_length forces several pages per resource.
PAGE_LENGTH = 25
LOOKBACK_HOURS = 2
START_DATE = "2024-01-01"
# Reporting costs one request per type, form and day; three days keep loads to seconds.
REPORTING_DAYS = 3


def load_seed(**overrides: Any) -> SeedConfig:
    """The seed every load test starts from (150 contacts, 600 responses over 60 days)."""
    values: dict[str, Any] = {
        "seed": 23,
        "contacts": 150,
        "accounts": 30,
        "forms": 5,
        "segments": 4,
        "responses": 600,
        "days": 60,
    }
    values.update(overrides)
    return SeedConfig(**values)


# Primary keys of the warehouse contract (plan/INTERFACES.md, "Warehouse tables").
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "contacts": ("uuid",),
    "contact_attributes": ("contact_uuid", "name"),
    "contact_segments": ("contact_uuid", "segment_uuid"),
    "forms": ("uuid",),
    "responses": ("uuid",),
    "response_answers": ("response_uuid", "question_identifier", "position"),
    "segments": ("uuid",),
    "reporting": ("report_type", "form_uuid", "day"),
    "account_usage": ("snapshot_at",),
    "account_usage_environments": ("snapshot_at", "uuid"),
    "mcp_audit_log": ("call_id",),
}
# Tables whose key set is fully determined by the emulator's records.
GROUND_TRUTH_TABLES = (
    "contacts",
    "contact_attributes",
    "contact_segments",
    "forms",
    "responses",
    "response_answers",
    "segments",
)
# One snapshot per run is the contract of these tables: "no new rows" does not apply to them,
# and two loads never hold the same snapshots.
SNAPSHOT_TABLES = frozenset({"account_usage", "account_usage_environments"})
JSON_COLUMNS = frozenset(
    {
        "attributes",
        "account_attributes",
        "channels",
        "folder",
        "config",
        "data",
        "tags",
        "breakdown",
    }
)
TIMESTAMP_COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": (
        "first_seen_at",
        "last_seen_at",
        "last_form_submission_at",
        "last_tracking_event_at",
    ),
    "contact_attributes": ("value_timestamp",),
    "contact_segments": ("entered_at",),
    "forms": (
        "created_at",
        "updated_at",
        "published_at",
        "archived_at",
        "first_form_view_at",
        "last_form_view_at",
    ),
    "responses": (
        "first_shown_at",
        "last_shown_at",
        "first_data_reception_at",
        "last_data_reception_at",
        "completed_at",
        "received_at",
        "dismissed_at",
    ),
    "response_answers": ("answered_at",),
}


# --------------------------------------------------------------------------- warehouses
@dataclass
class Warehouse:
    """Where a load writes, and how a test reads it back.

    Reads share one connection (read-only for DuckDB); `close()` releases it, and must be
    called before anything else writes to a DuckDB file (`load` does it).
    """

    destination: str  # "duckdb" or "postgres"
    location: str  # DuckDB file path, or a PostgreSQL URL
    dataset: str = DATASET
    _connection: Any = field(default=None, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        """Environment that points dlt's destination at this warehouse."""
        if self.destination == "duckdb":
            return {"DESTINATION__DUCKDB__CREDENTIALS": self.location}
        return {"DESTINATION__POSTGRES__CREDENTIALS": self.location}

    def cli_args(self) -> list[str]:
        """`refiner load` options that select this warehouse."""
        return ["--destination", self.destination, "--dataset", self.dataset]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of one read-only query.

        `{ds}` in `sql` becomes the qualified dataset (catalog-qualified for DuckDB, since the
        file's catalog may share the dataset's name), `{schema}` the dataset's bare name.
        """
        sql = sql.replace("{schema}", self.dataset)
        if self.destination == "duckdb":
            import duckdb

            sql = sql.replace("{ds}", f'"{Path(self.location).stem}"."{self.dataset}"')

            if self._connection is None:
                self._connection = duckdb.connect(self.location, read_only=True)
            return list(self._connection.execute(sql).fetchall())
        import psycopg2

        if self._connection is None:
            self._connection = psycopg2.connect(self.location)
            self._connection.autocommit = True
        with self._connection.cursor() as cursor:
            cursor.execute(sql.replace("{ds}", f'"{self.dataset}"'))
            return list(cursor.fetchall())

    def close(self) -> None:
        """Release the read connection (so a load can open the file for writing)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def tables(self) -> set[str]:
        """Every table of the dataset, dlt's own tables included."""
        rows = self.query(
            "select table_name from information_schema.tables "
            "where table_schema = '{schema}' and table_type = 'BASE TABLE'"
        )
        return {row[0] for row in rows}

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> lower-cased SQL type."""
        rows = self.query(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{{schema}}' and table_name = '{table}'"
        )
        return {name: kind.lower() for name, kind in rows}

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from {{ds}}.{table}")[0][0])

    def keys(self, table: str, columns: Sequence[str] | None = None) -> set[tuple[Any, ...]]:
        """The set of primary-key tuples (or of `columns`) in a table, values normalized."""
        names = ", ".join(columns or PRIMARY_KEYS[table])
        return {
            tuple(normalize(v) for v in row)
            for row in self.query(f"select {names} from {{ds}}.{table}")
        }

    def rows(self, table: str, where: str = "true") -> list[dict[str, Any]]:
        """Rows as dicts with normalized values (JSON parsed, timestamps as aware UTC)."""
        names = sorted(self.columns(table))
        quoted = ", ".join(f'"{name}"' for name in names)
        result = self.query(f"select {quoted} from {{ds}}.{table} where {where}")
        return [
            {
                name: normalize(value, json_column=name in JSON_COLUMNS)
                for name, value in zip(names, row, strict=True)
            }
            for row in result
        ]

    def row(self, table: str, **equals: str) -> dict[str, Any]:
        """The one row whose columns equal the given text values."""
        where = " and ".join(f"{name} = '{value}'" for name, value in equals.items())
        found = self.rows(table, where)
        assert len(found) == 1, f"{table} where {where}: {len(found)} rows"
        return found[0]

    def content(self, table: str) -> list[str]:
        """Sorted canonical rows without dlt's bookkeeping columns (for comparing two loads)."""
        return sorted(
            canonical({k: v for k, v in row.items() if not k.startswith("_dlt_")})
            for row in self.rows(table)
        )

    def fingerprint(self) -> str:
        """A hash of every row of every table, dlt's tables included."""
        digest = hashlib.sha256()
        for table in sorted(self.tables()):
            digest.update(table.encode())
            for line in sorted(canonical(row) for row in self.rows(table)):
                digest.update(line.encode())
        return digest.hexdigest()

    def counts(self) -> dict[str, int]:
        """Rows per data table (dlt's own tables left out)."""
        return {t: self.count(t) for t in sorted(self.tables()) if not t.startswith("_dlt")}


def normalize(value: Any, *, json_column: bool = False) -> Any:
    """One comparable Python value for DuckDB and PostgreSQL alike."""
    if json_column and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, Decimal):
        return float(value)
    return value


def canonical(row: Mapping[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)


def duckdb_warehouse(tmp_path: Path, name: str = "warehouse.duckdb") -> Warehouse:
    return Warehouse("duckdb", str(tmp_path / name))


@contextmanager
def make_warehouse(
    destination: str, tmp_path: Path, name: str = "warehouse.duckdb"
) -> Iterator[Warehouse]:
    """A fresh, empty warehouse of the given kind."""
    if destination == "duckdb":
        made = duckdb_warehouse(tmp_path, name)
        try:
            yield made
        finally:
            made.close()
        return
    with fresh_postgres_database() as database:
        made = Warehouse("postgres", database.url)
        try:
            yield made
        finally:
            made.close()


DESTINATIONS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=[requires_postgres, pytest.mark.postgres]),
]


# --------------------------------------------------------------------------- running loads
def load_env(
    emulator: Emulator | None,
    warehouse: Warehouse,
    pipelines_dir: Path,
    *,
    api_key: str = DEFAULT_API_KEY,
    base_url: str | None = None,
    **settings: Any,
) -> dict[str, str]:
    """Environment for `refiner load`: API key and base URL, small pages, the warehouse."""
    env = {
        "SOURCES__REFINER__API_KEY": api_key,
        "SOURCES__REFINER__BASE_URL": base_url or (emulator.base_url if emulator else ""),
        "SOURCES__REFINER__PAGE_LENGTH": str(PAGE_LENGTH),
        "SOURCES__REFINER__START_DATE": START_DATE,
        "SOURCES__REFINER__LOOKBACK_HOURS": str(LOOKBACK_HOURS),
        "SOURCES__REFINER__REPORTING_DAYS": str(REPORTING_DAYS),
        "DLT_DATA_DIR": str(pipelines_dir),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        **warehouse.env(),
    }
    env.update(
        {f"SOURCES__REFINER__{name.upper()}": str(value) for name, value in settings.items()}
    )
    return env


def load_args(warehouse: Warehouse, pipelines_dir: Path, *extra: str) -> list[str]:
    return ["load", *warehouse.cli_args(), "--pipelines-dir", str(pipelines_dir), *extra]


def refiner_process(
    args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.Popen[str]:
    """Start the `refiner` CLI as a child process (for kills and exact terminal output)."""
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))
    }
    child_env["PYTHONPATH"] = str(REPO)
    child_env.update(env)
    return subprocess.Popen(
        [*REFINER, *args],
        env=child_env,
        cwd=cwd or REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_refiner_process(
    args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 120
) -> CliRun:
    process = refiner_process(args, env, cwd)
    stdout, stderr = process.communicate(timeout=timeout)
    return CliRun(process.returncode, stdout, stderr)


def load(
    emulator: Emulator,
    warehouse: Warehouse,
    pipelines_dir: Path,
    *extra: str,
    **settings: Any,
) -> CliRun:
    """`refiner load` in-process; fails the test when it does not exit 0."""
    warehouse.close()
    run = run_refiner(
        *load_args(warehouse, pipelines_dir, *extra),
        env=load_env(emulator, warehouse, pipelines_dir, **settings),
    )
    assert run.code == 0, f"refiner load exited {run.code}:\n{run.output}"
    return run


# --------------------------------------------------------------------------- ground truth
def api_instant(text: str | None) -> datetime | None:
    """A Refiner timestamp (`...T...Z`, or zone-less `YYYY-MM-DD HH:MM:SS`) as a UTC instant."""
    if text is None:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def truth_contacts(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """Every contact as the API renders it."""
    return {uuid: emulator.store.render_contact(uuid) for uuid in list(emulator.store.contacts)}


def truth_responses(emulator: Emulator, include: str = "completed") -> dict[str, dict[str, Any]]:
    """Responses a load with this `include` selects, as the API renders them."""
    store = emulator.store
    rendered = [store.render_response(uuid) for uuid in list(store.responses)]
    if include == "completed":
        rendered = [item for item in rendered if item["completed_at"] is not None]
    elif include == "partials":
        rendered = [item for item in rendered if item["first_data_reception_at"] is not None]
    return {item["uuid"]: item for item in rendered}


def answer_keys(response: Mapping[str, Any]) -> set[tuple[str, str, int]]:
    """`response_answers` keys of one response: a list gives positions 0..n-1, anything else 0."""
    keys: set[tuple[str, str, int]] = set()
    for question, answer in (response.get("data") or {}).items():
        if isinstance(answer, list):
            keys.update((response["uuid"], question, i) for i in range(len(answer)))
        else:
            keys.add((response["uuid"], question, 0))
    return keys


def expected_keys(
    emulator: Emulator, include: str = "completed"
) -> dict[str, set[tuple[Any, ...]]]:
    """Primary-key sets of every ground-truth table after a full, correct load."""
    contacts = truth_contacts(emulator)
    responses = truth_responses(emulator, include)
    return {
        "contacts": {(uuid,) for uuid in contacts},
        "contact_attributes": {
            (uuid, name) for uuid, c in contacts.items() for name in (c["attributes"] or {})
        },
        "contact_segments": {
            (uuid, s["uuid"]) for uuid, c in contacts.items() for s in c["segments"] or ()
        },
        "forms": {(uuid,) for uuid in list(emulator.store.forms)},
        "responses": {(uuid,) for uuid in responses},
        "response_answers": set().union(*(answer_keys(r) for r in responses.values())),
        "segments": {(uuid,) for uuid in list(emulator.store.segments)},
    }


def key_diff(actual: set[Any], expected: set[Any]) -> str:
    missing, extra = expected - actual, actual - expected
    return (
        f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), "
        f"{len(extra)} extra (e.g. {sorted(extra)[:3]})"
    )


# --------------------------------------------------------------------------- assertions
def assert_matches_ground_truth(
    warehouse: Warehouse, emulator: Emulator, include: str = "completed"
) -> None:
    """Every ground-truth table holds exactly the emulator's primary keys."""
    expected = expected_keys(emulator, include)
    present = warehouse.tables()
    problems = []
    for table, keys in expected.items():
        if table not in present:
            problems.append(f"{table}: table missing")
            continue
        actual = warehouse.keys(table)
        if actual != keys:
            problems.append(f"{table}: {key_diff(actual, keys)}")
    assert not problems, "warehouse differs from ground truth:\n" + "\n".join(problems)


def assert_no_duplicate_keys(warehouse: Warehouse) -> None:
    """`count(*) = count(distinct pk)` in every data table; a table outside the contract fails.

    The one ground-truth check for duplicate keys: dlt's own tables (`_dlt_*`) and the reverse
    sync's bookkeeping tables (`refiner_*`) are not data tables.
    """
    data_tables = sorted(
        table
        for table in warehouse.tables()
        if not table.startswith("_dlt") and not table.startswith("refiner_")
    )
    assert data_tables, "no data table in the warehouse"
    for table in data_tables:
        assert table in PRIMARY_KEYS, f"{table}: a table outside the warehouse contract"
        names = ", ".join(f'"{name}"' for name in PRIMARY_KEYS[table])
        total = warehouse.count(table)
        distinct = warehouse.query(
            f"select count(*) from (select distinct {names} from {{ds}}.{table}) d"
        )[0][0]
        assert total == distinct, f"{table}: {total} rows but {distinct} distinct keys ({names})"


def assert_load_ids_completed(warehouse: Warehouse) -> None:
    """Every `_dlt_load_id` in a data table has a completed (status 0) row in `_dlt_loads`."""
    completed = {
        row[0] for row in warehouse.query("select load_id from {ds}._dlt_loads where status = 0")
    }
    assert completed, "no completed load in _dlt_loads"
    for table in warehouse.counts():
        ids = {
            row[0] for row in warehouse.query(f"select distinct _dlt_load_id from {{ds}}.{table}")
        }
        assert ids <= completed, f"{table}: load ids without a completed load: {ids - completed}"


def assert_consistent(warehouse: Warehouse, emulator: Emulator) -> None:
    """The three whole-warehouse checks every finished load must pass."""
    assert_matches_ground_truth(warehouse, emulator)
    assert_no_duplicate_keys(warehouse)
    assert_load_ids_completed(warehouse)


def requests_by_path(emulator: Emulator) -> dict[str, int]:
    """Requests in the emulator's log per path (without /v1)."""
    counts: dict[str, int] = {}
    for entry in list(emulator.request_log):
        counts[entry.path] = counts.get(entry.path, 0) + 1
    return counts


def as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value
