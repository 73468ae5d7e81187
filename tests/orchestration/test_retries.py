"""The load step's RetryPolicy at work, in process against the emulator on DuckDB.

A Refiner 503 or 429 that outlasts the client's own retries, and a DuckDB file that another
process holds, fail the step's first attempt with the CLI's message; the step is retried and
passes, and the warehouse holds what a clean load writes. Another refiner writer's turn on the
file (its writer lock) is waited for instead: no failure, no retry. A validation error (a bad
setting, a request Refiner refuses with 400) fails the step at once.

The assets are built with RETRY_POLICY's max_retries and backoff but no delay (`no_wait`):
the real policy would wait 30 s before the first retry.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dagster", reason="needs the dagster extra: pip install 'refiner-dlt[dagster]'")

from dagster import DagsterEventType, DagsterInstance, EventLogEntry, RetryPolicy

from emulator import Emulator
from emulator.faults import Rule
from pipelines.orchestration import digest_assets, load_assets, sync_assets, transform_assets
from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.failures import RETRY_POLICY
from pipelines.orchestration.keys import loaded_tables, raw_table_key
from pipelines.orchestration.load_assets import LOAD_OP
from pipelines.orchestration.schedules import INCREMENTAL_JOB
from sources.refiner.schema import primary_key
from tests.cli_run import run_refiner
from tests.conftest import MakeEmulator
from tests.orchestration.helpers import (
    SEED,
    Setup,
    cli_load,
    configure,
    differing_tables,
    events_of,
    materializations,
    query,
    reads,
)

pytestmark = pytest.mark.slow

WRITER_TURN_SECONDS = 1.0
"""How long another refiner writer keeps its turn in the writer-lock test."""
CLIENT_ATTEMPTS = 2
"""SOURCES__REFINER__MAX_ATTEMPTS in these tests: the client tries each request twice."""
ASSET_MODULES = (load_assets, transform_assets, sync_assets, digest_assets)
"""The modules whose builders attach RETRY_POLICY to their assets."""
KEYED_RESOURCES = ("contacts", "forms", "responses", "segments", "reporting")
RETRIED_ONCE = ["STEP_START", "STEP_UP_FOR_RETRY", "STEP_RESTARTED", "STEP_SUCCESS"]
STEP_LIFECYCLE = (*RETRIED_ONCE, "STEP_FAILURE")
HOLD_FILE = (
    "import duckdb, sys; connection = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
    " sys.stdin.read(); connection.close()"
)
"""Open the DuckDB file for writing, as any other program can."""
HOLD_WRITER_TURN = (
    "import fcntl, sys; lock = open(sys.argv[1] + '.writer.lock', 'a');"
    " fcntl.flock(lock, fcntl.LOCK_EX); print('ready', flush=True); sys.stdin.read()"
)
"""Take the file's writer lock, as `refiner listen` does for a flush (pipelines.warehouse_lock)."""


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> RetryPolicy:
    """RETRY_POLICY without its delay, installed where the asset builders read it."""
    assert RETRY_POLICY.max_retries >= 1
    policy = RetryPolicy(
        max_retries=RETRY_POLICY.max_retries, delay=0, backoff=RETRY_POLICY.backoff
    )
    for module in ASSET_MODULES:
        monkeypatch.setattr(module, "RETRY_POLICY", policy)
    return policy


@pytest.fixture
def emulator(make_emulator: MakeEmulator) -> Emulator:
    """This module's emulator: the orchestration tests' small seed."""
    return make_emulator(**SEED)


@pytest.fixture
def warehouse(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """The CLI and the definitions pointed at `emulator` and tmp_path/refiner.duckdb."""
    return configure(monkeypatch, tmp_path, emulator)


def test_the_real_policy_waits_30_then_90_then_210_seconds() -> None:
    attempts = range(1, RETRY_POLICY.max_retries + 1)
    assert [RETRY_POLICY.calculate_delay(attempt) for attempt in attempts] == [30, 90, 210]


@pytest.mark.parametrize(
    ("status", "retry_after"), [(503, None), (429, 1)], ids=["503", "429-retry-after"]
)
def test_a_refiner_fault_that_outlasts_the_client_is_retried_by_the_step(
    emulator: Emulator,
    warehouse: Setup,
    monkeypatch: pytest.MonkeyPatch,
    no_wait: RetryPolicy,
    status: int,
    retry_after: int | None,
) -> None:
    monkeypatch.setenv("SOURCES__REFINER__MAX_ATTEMPTS", str(CLIENT_ATTEMPTS))
    cli_rule = second_contacts_page_fails(emulator, status, retry_after)
    run = run_refiner("load", "--duckdb-path", str(warehouse.duckdb_path.with_name("cli.duckdb")))
    assert (run.code, cli_rule.hits) == (1, CLIENT_ATTEMPTS), run.stderr
    cli_message = error_line(run.stderr)
    assert f"-> {status})" in cli_message
    rule = second_contacts_page_fails(emulator, status, retry_after)
    emulator.request_log.clear()

    result = load_run(no_wait)

    assert result.success
    assert rule.hits == CLIENT_ATTEMPTS
    assert load_step_lifecycle(result) == RETRIED_ONCE
    (retry,) = events_of(result, "STEP_UP_FOR_RETRY")
    assert failure_description(retry) == cli_message
    responses = materializations(result)["refiner/responses"]
    # The failed attempt read pages too; the metadata counts the attempt that loaded.
    assert reads(emulator) > responses["api_requests"]
    assert_loaded_like_a_clean_run(warehouse)


def test_a_duckdb_file_held_by_another_process_is_retried_once_it_is_let_go(
    warehouse: Setup, no_wait: RetryPolicy
) -> None:
    with held_open(HOLD_FILE, warehouse.duckdb_path) as holder:
        run = run_refiner("load")
        assert run.code == 1, run.stderr
        cli_message = error_line(run.stderr)
        assert cli_message.startswith(f"DuckDB file {warehouse.duckdb_path} is locked by ")
        assert f"(PID {holder.pid})" in cli_message
        # The holder closes its connection when the first attempt has failed, before the retry.
        let_go_on_retry = on_event(DagsterEventType.STEP_UP_FOR_RETRY, lambda: let_go(holder))
        result = load_run(no_wait, let_go_on_retry)

    assert result.success
    assert load_step_lifecycle(result) == RETRIED_ONCE
    (retry,) = events_of(result, "STEP_UP_FOR_RETRY")
    assert failure_description(retry) == cli_message
    assert holder.returncode == 0
    assert_loaded_like_a_clean_run(warehouse)


def test_a_load_step_that_meets_the_writer_lock_waits_for_it_without_a_retry(
    emulator: Emulator, warehouse: Setup, no_wait: RetryPolicy
) -> None:
    let_go_at: list[float] = []

    with held_open(HOLD_WRITER_TURN, warehouse.duckdb_path) as holder:

        def release() -> None:
            let_go_at.append(time.monotonic())
            let_go(holder)

        # The other writer's turn ends a while after the step has started.
        timer = threading.Timer(WRITER_TURN_SECONDS, release)
        result = load_run(no_wait, on_event(DagsterEventType.STEP_START, timer.start))
        timer.join()

    assert result.success
    assert load_step_lifecycle(result) == ["STEP_START", "STEP_SUCCESS"]
    # The step asked nothing of Refiner before the lock was free: it waited, it did not fail.
    assert min(entry.at for entry in emulator.request_log) > let_go_at[0]
    assert holder.returncode == 0
    assert_loaded_like_a_clean_run(warehouse)


@pytest.mark.parametrize("cause", ["bad-setting", "refused-request"])
def test_a_validation_error_fails_the_load_step_without_a_retry(
    emulator: Emulator,
    warehouse: Setup,
    monkeypatch: pytest.MonkeyPatch,
    no_wait: RetryPolicy,
    cause: str,
) -> None:
    if cause == "bad-setting":
        monkeypatch.setenv("SOURCES__REFINER__PAGE_LENGTH", "5000")
    else:
        emulator.faults.add("status", status=400, path="/contacts", times=None)
    run = run_refiner("load", "--duckdb-path", str(warehouse.duckdb_path.with_name("cli.duckdb")))
    assert run.code == 2, run.stderr
    cli_message = error_line(run.stderr)
    emulator.request_log.clear()

    result = load_run(no_wait)

    assert not result.success
    assert load_step_lifecycle(result) == ["STEP_START", "STEP_FAILURE"]
    (failure,) = events_of(result, "STEP_FAILURE")
    assert failure.step_failure_data.user_failure_data.description == cli_message
    assert {event.step_key for event in events_of(result, "STEP_START")} == {LOAD_OP}
    if cause == "bad-setting":
        assert "page_length" in cli_message
        assert len(emulator.request_log) == 0


def second_contacts_page_fails(emulator: Emulator, status: int, retry_after: int | None) -> Rule:
    """Answer the second page of contacts with `status` as often as the client tries it, so
    the load fails after the first page (and other resources' pages) were read."""
    return emulator.faults.add(
        "status",
        status=status,
        retry_after=retry_after,
        path="/contacts",
        skip=1,
        times=CLIENT_ATTEMPTS,
    )


def load_run(policy: RetryPolicy, listener: Callable[[EventLogEntry], None] | None = None) -> Any:
    """The load assets of refiner_incremental, executed in process with assets built now
    (after `no_wait` installed `policy`), `listener` hearing each of the run's events."""
    definitions = build_definitions()
    load = definitions.get_assets_def(raw_table_key("responses"))
    assert load.op.retry_policy is policy
    job = definitions.resolve_job_def(INCREMENTAL_JOB)
    instance = DagsterInstance.ephemeral()
    run_id = str(uuid.uuid4())
    if listener is not None:
        instance.add_event_listener(run_id, listener)
    return job.execute_in_process(
        instance=instance,
        asset_selection=[raw_table_key(table) for table in loaded_tables()],
        run_id=run_id,
        raise_on_error=False,
    )


def load_step_lifecycle(result: Any) -> list[str]:
    """The load step's start, retry, restart, success and failure events, in order."""
    return [
        event.event_type_value
        for event in result.all_events
        if event.step_key == LOAD_OP and event.event_type_value in STEP_LIFECYCLE
    ]


def failure_description(retry: Any) -> str:
    """The description of the Failure that sent a step up for retry."""
    cause = retry.event_specific_data.error.cause
    assert cause.cls_name == "Failure"
    qualified_name, _, description = cause.message.strip().partition(": ")
    assert qualified_name.endswith(".Failure")
    return str(description)


def error_line(stderr: str) -> str:
    """The CLI's one `Error: ` line, without that prefix (client retry warnings may precede)."""
    (line,) = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    return line.removeprefix("Error: ")


def assert_loaded_like_a_clean_run(warehouse: Setup) -> None:
    """Each resource's table in the run's warehouse has one row per primary key, and every
    comparable table holds the rows of a fault-free `refiner load` into another file."""
    for resource in KEYED_RESOURCES:
        key = ", ".join(primary_key(resource))
        sql = f"SELECT count(*), count(DISTINCT ({key})) FROM refiner_raw.{resource}"
        ((rows, keys),) = query(warehouse.duckdb_path, sql)
        assert rows == keys > 0, resource
    clean = warehouse.duckdb_path.with_name("clean.duckdb")
    cli_load("--duckdb-path", str(clean))
    assert differing_tables(warehouse.duckdb_path, clean) == []


@contextmanager
def held_open(script: str, database: Path) -> Iterator[subprocess.Popen[str]]:
    """A second process that holds `database` as `script` does until its stdin is closed
    (see `let_go`); killed at the end if it still runs."""
    with subprocess.Popen(
        [sys.executable, "-c", script, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
            yield process
        finally:
            process.kill()


def on_event(kind: DagsterEventType, action: Callable[[], None]) -> Callable[[EventLogEntry], None]:
    """A run event listener that calls `action` when the run logs `kind`. Dagster calls it as
    the event is stored, in the executing thread, before the step goes on (or is retried)."""

    def listener(entry: EventLogEntry) -> None:
        if entry.dagster_event_type == kind:
            action()

    return listener


def let_go(holder: subprocess.Popen[str]) -> None:
    """Make the holder close its connection and exit, and wait until it has."""
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=30)
