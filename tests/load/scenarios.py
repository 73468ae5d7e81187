"""Fault scenarios of the load: a workspace that runs `refiner` like a user, and its checks.

Every scenario runs with the sentinel API key (tests/secrets.py), so any leak of a credential
into output, logs, traces, load packages or the warehouse is caught. Warehouses are real: a
DuckDB file in tmp_path, or a throwaway PostgreSQL database. "Correct" always means the
warehouse, counted in the warehouse, equals the emulator's ground truth.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator, SeedConfig
from tests.cli_run import CliRun
from tests.load.helpers import (
    DESTINATIONS,
    REFINER,
    REPO,
    SNAPSHOT_TABLES,
    Warehouse,
    api_instant,
    assert_consistent,
    load_args,
    load_env,
    truth_contacts,
    truth_responses,
)
from tests.secrets import SENTINEL_API_KEY, SENTINEL_WEBHOOK_SECRET, SecretWitness

WAREHOUSE_KINDS = DESTINATIONS
"""DuckDB, and PostgreSQL when REFINER_TEST_POSTGRES is set: parametrize `scenario_warehouse`."""


def small_seed(**overrides: Any) -> SeedConfig:
    """A seed small enough for seconds-long loads, big enough for several pages per resource."""
    values: dict[str, Any] = {
        "seed": 11,
        "contacts": 60,
        "accounts": 8,
        "forms": 3,
        "segments": 3,
        "responses": 240,
        "days": 20,
    }
    values.update(overrides)
    return SeedConfig(**values)


@contextmanager
def running_emulator(seed: SeedConfig | None = None) -> Iterator[Emulator]:
    """An emulator that accepts only the sentinel key."""
    with Emulator(seed=seed or small_seed(), api_keys=(SENTINEL_API_KEY,)) as emulator:
        yield emulator


_OWN_ENV_PREFIXES = ("SOURCES__", "DESTINATION__", "LOAD__", "NORMALIZE__", "DLT_DATA_DIR")


@dataclass
class Workspace:
    """Where one scenario's CLI runs: its own cwd, pipelines dir, warehouse and environment.

    Every run is a `refiner --debug ...` subprocess with the sentinel key; its stdout and
    stderr, and when the test ends every file under `root` (pipelines dir with traces and
    load packages, logs, the DuckDB file), go to the secret witness.
    """

    root: Path
    emulator: Emulator
    warehouse: Warehouse
    witness: SecretWitness
    settings: dict[str, Any] = field(default_factory=dict)
    last_logs: str = ""
    """Log records (every logger, DEBUG and up) of the last in-process run."""

    @property
    def pipelines_dir(self) -> Path:
        """dlt's pipelines folder of the runs (`--pipelines-dir`)."""
        return self.root / "pipelines"

    def env(self, **settings: Any) -> dict[str, str]:
        """Environment of a run: tests/load's load settings with the sentinel key (`api_key=`
        overrides it), the sentinel webhook secret, fast retries; other `settings` become
        SOURCES__REFINER__<NAME> variables."""
        base = {
            key: value for key, value in os.environ.items() if not key.startswith(_OWN_ENV_PREFIXES)
        }
        merged = {**FAST_LOAD_SETTINGS, **self.settings, **settings}
        api_key = merged.pop("api_key", SENTINEL_API_KEY)
        base.update(
            load_env(self.emulator, self.warehouse, self.pipelines_dir, api_key=api_key, **merged)
        )
        base.update(
            {
                "REFINER_WEBHOOK_SECRET": SENTINEL_WEBHOOK_SECRET,
                "SOURCES__REFINER__WEBHOOK_SECRET": SENTINEL_WEBHOOK_SECRET,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
        )
        return base

    def spawn(self, *args: str, **settings: Any) -> subprocess.Popen[str]:
        """Start `refiner --debug <args>` in the background; output goes to a scanned file."""
        self.warehouse.close()
        log = self.root / f"run-{time.monotonic_ns()}.log"
        with log.open("w") as handle:
            process = subprocess.Popen(
                [*REFINER, "--debug", *args],
                cwd=self.root,
                env=self.env(**settings),
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.witness.folder(log)
        return process

    def run(self, *args: str, **settings: Any) -> CliRun:
        """Run `refiner --debug <args>` in this process (fast); capture output and log records.

        The environment is set only for the call. Log records of every logger at DEBUG are
        captured too, since `--debug` sends them to a stderr handler made by the first run.
        """
        self.warehouse.close()
        out, err, logs = io.StringIO(), io.StringIO(), io.StringIO()
        handler = logging.StreamHandler(logs)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with pytest.MonkeyPatch.context() as patch:
                for name in [n for n in os.environ if n.startswith(_OWN_ENV_PREFIXES)]:
                    patch.delenv(name)
                for name, value in self.env(**settings).items():
                    if os.environ.get(name) != value:
                        patch.setenv(name, value)
                patch.chdir(self.root)
                with redirect_stdout(out), redirect_stderr(err):
                    from pipelines.cli import main

                    code = main(["--debug", *args])
        finally:
            root.removeHandler(handler)
        label = f"refiner {' '.join(args)}"
        self.witness.text(f"stdout of {label}", out.getvalue())
        self.witness.text(f"stderr of {label}", err.getvalue())
        self.witness.text(f"log records of {label}", logs.getvalue())
        self.last_logs = logs.getvalue()
        return CliRun(code, out.getvalue(), err.getvalue())

    def run_process(self, *args: str, timeout: float = 120, **settings: Any) -> CliRun:
        """Run `refiner --debug <args>` as a child process, exactly as a user would."""
        self.warehouse.close()
        completed = subprocess.run(
            [*REFINER, "--debug", *args],
            cwd=self.root,
            env=self.env(**settings),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        label = f"refiner {' '.join(args)} (process)"
        self.witness.text(f"stdout of {label}", completed.stdout)
        self.witness.text(f"stderr of {label}", completed.stderr)
        return CliRun(completed.returncode, completed.stdout, completed.stderr)

    def load_args(self, *extra: str) -> list[str]:
        """`load` with this workspace's warehouse and pipelines dir."""
        return load_args(self.warehouse, self.pipelines_dir, *extra)

    def load(self, *extra: str, **settings: Any) -> CliRun:
        """`refiner --debug load ...` in this process; does not judge the exit code."""
        return self.run(*self.load_args(*extra), **settings)

    def load_ok(self, *extra: str, **settings: Any) -> CliRun:
        """`refiner load` that must exit 0."""
        run = self.load(*extra, **settings)
        assert_ok(run)
        return run

    def spawn_load(self, *extra: str, **settings: Any) -> subprocess.Popen[str]:
        """`refiner --debug load ...` in the background."""
        return self.spawn(*self.load_args(*extra), **settings)

    def pipeline_dirs(self) -> list[Path]:
        """The dlt pipeline working folders under the pipelines dir."""
        if not self.pipelines_dir.exists():
            return []
        return [p for p in self.pipelines_dir.iterdir() if p.is_dir()]

    def packages(self, stage: str) -> list[Path]:
        """Load packages of one stage: `normalize/extracted`, `load/normalized`, `load/loaded`."""
        return [
            package
            for pipeline in self.pipeline_dirs()
            if (pipeline / stage).is_dir()
            for package in (pipeline / stage).iterdir()
            if package.is_dir()
        ]


# Quick retries for subprocess loads; small pages so every resource spans several pages.
FAST_LOAD_SETTINGS: dict[str, Any] = {
    "max_attempts": 4,
    "timeout_seconds": 5,
    "requests_per_minute": 600_000,
    "reporting_days": 3,
    "reporting_refetch_days": 2,
}


def assert_ok(run: CliRun) -> None:
    """The run exited 0; otherwise show what it printed."""
    assert run.code == 0, f"exit {run.code}\n{run.output[-6000:]}"


def error_text(output: str) -> str:
    """The CLI's error: from the last line starting `Error:` to the end ("" if none)."""
    start = output.rfind("\nError:")
    if start < 0:
        return output if output.startswith("Error:") else ""
    return output[start + 1 :]


def assert_failed_clearly(run: CliRun, *words: str) -> str:
    """A non-zero exit with an `Error:` message on stderr that names each of `words`."""
    assert run.code != 0, f"exited 0 although it should have failed:\n{run.output[-3000:]}"
    message = error_text(run.stderr)
    assert message, f"no `Error:` line on stderr:\n{run.stderr[-3000:]}"
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    return message


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.01) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; True when it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def stop(process: subprocess.Popen[str]) -> None:
    """Make sure a spawned process is gone (SIGKILL it if it still runs)."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def assert_correct(warehouse: Warehouse, emulator: Emulator) -> None:
    """The warehouse equals the emulator's ground truth (issue 5's definition of correct).

    Same primary keys in every ground-truth table, the same values in responses, answers and
    contacts, `count(*) = count(distinct pk)` in every data table (and no table outside the
    contract), and every `_dlt_load_id` belongs to a completed load.
    """
    assert_consistent(warehouse, emulator)
    assert_values_match(warehouse, emulator)


RESPONSE_TIMESTAMPS = (
    "first_shown_at",
    "last_shown_at",
    "first_data_reception_at",
    "last_data_reception_at",
    "completed_at",
    "received_at",
    "dismissed_at",
)
CONTACT_TIMESTAMPS = ("first_seen_at", "last_seen_at", "last_form_submission_at")


def expected_response_row(response: dict[str, Any]) -> dict[str, Any]:
    """The `responses` row the contract derives from one API response."""
    contact = response["contact"]
    row: dict[str, Any] = {
        "form_uuid": response["form"]["uuid"],
        "contact_uuid": contact["uuid"],
        "contact_email": contact["email"],
        "show_counter": response["show_counter"],
        "data": response["data"],
    }
    row.update({name: api_instant(response[name]) for name in RESPONSE_TIMESTAMPS})
    return row


def expected_answer_values(response: dict[str, Any]) -> dict[tuple[str, str, int], Any]:
    """`response_answers` key -> the answer value it must hold."""
    values: dict[tuple[str, str, int], Any] = {}
    for question, answer in (response.get("data") or {}).items():
        elements = answer if isinstance(answer, list) else [answer]
        for position, value in enumerate(elements):
            values[(response["uuid"], question, position)] = value
    return values


def as_stored(value: Any, destination: str) -> Any:
    """A ground-truth value as the warehouse must hold it. PostgreSQL's text and JSON types
    cannot hold U+0000; the load replaces it with U+FFFD there (pipelines/load/run.py)."""
    if destination != "postgres":
        return value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {as_stored(k, destination): as_stored(v, destination) for k, v in value.items()}
    if isinstance(value, list):
        return [as_stored(item, destination) for item in value]
    return value


def assert_values_match(warehouse: Warehouse, emulator: Emulator) -> None:
    """Responses, answers and contacts hold exactly the ground-truth values."""
    truth = {
        uuid: as_stored(response, warehouse.destination)
        for uuid, response in truth_responses(emulator).items()
    }
    rows = {row["uuid"]: row for row in warehouse.rows("responses")}
    for uuid, response in truth.items():
        expected = expected_response_row(response)
        actual = {name: rows[uuid].get(name) for name in expected}
        assert actual == expected, f"response {uuid}"
    answers = {
        (r["response_uuid"], r["question_identifier"], r["position"]): r
        for r in warehouse.rows("response_answers")
    }
    for response in truth.values():
        for key, value in expected_answer_values(response).items():
            assert answer_holds(answers[key], value), (key, value, answers[key])
    contacts = {row["uuid"]: row for row in warehouse.rows("contacts")}
    for uuid, truth_contact in truth_contacts(emulator).items():
        contact = as_stored(truth_contact, warehouse.destination)
        row = contacts[uuid]
        expected = {
            "email": contact["email"],
            "display_name": contact["display_name"],
            "remote_id": contact["remote_id"],
            "attributes": contact["attributes"],
            **{name: api_instant(contact[name]) for name in CONTACT_TIMESTAMPS},
        }
        assert {name: row.get(name) for name in expected} == expected, f"contact {uuid}"


def answer_holds(row: dict[str, Any], value: Any) -> bool:
    """Whether one `response_answers` row stores `value` in its typed columns."""
    if value is None:
        return (row["value_text"], row["value_number"], row["value_bool"]) == (None, None, None)
    if isinstance(value, bool):
        return row["value_bool"] is value
    if isinstance(value, int | float):
        return row["value_number"] == float(value)
    return row["value_text"] == value


def table_hashes(warehouse: Warehouse, tables: Sequence[str] | None = None) -> dict[str, str]:
    """A hash per table of its user-visible content (dlt's own columns left out, rows sorted)."""
    names = tables or sorted(
        t for t in warehouse.tables() if not t.startswith("_dlt") and t not in SNAPSHOT_TABLES
    )
    return {
        table: hashlib.sha256("\n".join(warehouse.content(table)).encode()).hexdigest()
        for table in names
    }


def stored_state(warehouse: Warehouse) -> dict[str, Any]:
    """The newest pipeline state of a completed load in the destination (decoded), or {}.

    This is what dlt restores when the local pipeline folder is gone: a state row whose load
    never completed does not count."""
    if "_dlt_pipeline_state" not in warehouse.tables():
        return {}
    rows = warehouse.query(
        "select s.state from {ds}._dlt_pipeline_state s join {ds}._dlt_loads l "
        "on l.load_id = s._dlt_load_id where l.status = 0 "
        "order by s._dlt_load_id desc, s.version desc limit 1"
    )
    if not rows:
        return {}
    from dlt.common.pipeline import TPipelineState
    from dlt.pipeline.state_sync import decompress_state

    state: TPipelineState = decompress_state(rows[0][0])
    return dict(state)


def response_cursor(state: dict[str, Any]) -> datetime | None:
    """The responses cursor (`last_data_reception_at` last value) in a pipeline state."""
    resources = state.get("sources", {}).get("refiner", {}).get("resources", {})
    incremental = resources.get("responses", {}).get("incremental", {})
    value = incremental.get("last_data_reception_at", {}).get("last_value")
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_responses(
    emulator: Emulator, count: int, *, at: datetime | None = None, spread: bool = True
) -> list[str]:
    """Add `count` completed responses (copies of existing answers) at `at` (default now),
    one second apart going back when `spread`, else all at the same instant."""
    store = emulator.store
    templates = sorted(truth_responses(emulator).values(), key=lambda r: r["uuid"])
    contacts = sorted(store.contacts)
    now = at or emulator.clock.now()
    return [
        store.add_response(
            form_uuid=templates[i % len(templates)]["form"]["uuid"],
            contact_uuid=contacts[i % len(contacts)],
            data=templates[i % len(templates)]["data"],
            at=now - timedelta(seconds=i if spread else 0),
        )
        for i in range(count)
    ]
