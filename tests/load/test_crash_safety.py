"""Crash safety: `refiner load` killed with SIGKILL mid-run, then rerun, equals a clean load.

Fault matrix, scenario 4: killed during extract, after normalize, and during load (merge and
append tables alike); each time at most two reruns converge and the state stored in the
warehouse never claims data that is not loaded.

The kills hit real child processes. Extract is killed from outside once responses pages are
being fetched (emulator latency keeps it there). The other instants are too short to hit by
polling, so the child SIGKILLs itself exactly there (see KILL_POINTS): when the load step
starts; right after normalize commits its package; and when a job's rows are committed in the
warehouse but dlt has not yet recorded the job as completed, for a merge and an append table.
Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from emulator import Emulator
from tests.load.helpers import (
    GROUND_TRUTH_TABLES,
    Warehouse,
    assert_consistent,
    duckdb_warehouse,
    load,
    load_args,
    load_env,
    refiner_process,
)
from tests.load.scenarios import (
    Workspace,
    add_responses,
    assert_correct,
    assert_ok,
    error_text,
    response_cursor,
    stop,
    stored_state,
    wait_until,
)

COMPARED_TABLES = (*GROUND_TRUTH_TABLES, "reporting")


def _wait_for_requests(emulator: Emulator, path: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(emulator.request_log.filter(path=path)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"the load never made {count} {path} requests in {timeout}s")


def test_sigkill_mid_extract_then_rerun_equals_a_clean_load(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    emulator = load_emulator
    warehouse = duckdb_warehouse(tmp_path, "crashed.duckdb")
    pipelines = tmp_path / "pipelines"

    # A completed first load, so the crash hits a warehouse that already holds data and state.
    load(emulator, warehouse, pipelines)
    store = emulator.store
    template = store.render_response(sorted(store.responses)[0])
    contacts = sorted(store.contacts)
    for i in range(60):
        store.add_response(
            form_uuid=template["form"]["uuid"], contact_uuid=contacts[i % 30], data=template["data"]
        )

    warehouse.close()
    emulator.faults.configure(latency_ms=300)
    emulator.request_log.clear()
    process = refiner_process(
        load_args(warehouse, pipelines), load_env(emulator, warehouse, pipelines)
    )
    try:
        _wait_for_requests(emulator, "/responses", 2)
        assert process.poll() is None, "the load finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    emulator.faults.clear()

    load(emulator, warehouse, pipelines)
    clean = duckdb_warehouse(tmp_path, "clean.duckdb")
    load(emulator, clean, tmp_path / "clean-pipelines")

    assert_consistent(warehouse, emulator)
    assert_consistent(clean, emulator)
    for table in COMPARED_TABLES:
        crashed_rows, clean_rows = warehouse.content(table), clean.content(table)
        assert crashed_rows == clean_rows, (
            f"{table}: {len(crashed_rows)} rows after crash and rerun, "
            f"{len(clean_rows)} in a clean load"
        )


def kill_when(process: subprocess.Popen[str], stage: Callable[[], bool], timeout: float) -> bool:
    """SIGKILL `process` as soon as `stage()` holds; False if it ended before that."""
    reached = wait_until(
        lambda: stage() or process.poll() is not None, timeout=timeout, interval=0.002
    )
    if process.poll() is not None or not reached:
        stop(process)
        return False
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    return True


def newest_loaded_response(warehouse: Warehouse) -> datetime | None:
    """max(last_data_reception_at) of the loaded responses."""
    value = warehouse.query("select max(last_data_reception_at) from {ds}.responses")[0][0]
    return value if isinstance(value, datetime) else None


def assert_state_not_ahead(warehouse: Warehouse) -> None:
    """The responses cursor stored in the warehouse is never past the data loaded with it."""
    cursor = response_cursor(stored_state(warehouse))
    newest = newest_loaded_response(warehouse)
    assert cursor is not None and newest is not None
    assert cursor <= newest, f"stored cursor {cursor} is past the newest loaded row {newest}"


def extracting(workspace: Workspace) -> bool:
    """Responses pages are being fetched."""
    return len(workspace.emulator.request_log.filter(path="/responses")) >= 2


_KILL_AT = """
import os, signal, sys
point, table, argv = sys.argv[1], sys.argv[2], sys.argv[3:]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "job-committed":
    from dlt.common.storages.load_package import PackageStorage
    save = PackageStorage.save_pending_transition
    def save_pending_transition(self, load_id, file_name, state, *args, **kwargs):
        if state == "completed" and file_name.startswith(table + "."):
            die()
        return save(self, load_id, file_name, state, *args, **kwargs)
    PackageStorage.save_pending_transition = save_pending_transition
elif point == "normalize-committed":
    from dlt.common.storages.load_storage import LoadStorage
    commit = LoadStorage.commit_new_load_package
    def commit_new_load_package(self, load_id):
        commit(self, load_id)
        die()
    LoadStorage.commit_new_load_package = commit_new_load_package
elif point == "load-starting":
    from dlt.load.load import Load
    def run(self, pool):
        die()
    Load.run = run
from pipelines.cli import main
sys.exit(main(argv))
"""


KILL_POINTS: dict[str, tuple[str, str]] = {
    "after-normalize": ("load-starting", ""),
    "normalize-commit": ("normalize-committed", ""),
    "load-merge-table": ("job-committed", "responses"),
    "load-append-table": ("job-committed", "account_usage"),
}


"""Stage -> (where the child kills itself, table of the job). `after-normalize`: normalize is
done and the load step is about to start. `normalize-commit`: normalize has committed its
package to `load/normalized` but not yet removed the extracted one (dlt logs "do not kill this
process" there; a real SIGKILL can land in it). `load-*-table`: a job's rows are committed in
the warehouse but dlt has not recorded the job as completed."""


def spawn_load_killed_at(workspace: Workspace, stage: str) -> subprocess.Popen[str]:
    """`refiner --debug load` that SIGKILLs itself at the kill point of `stage`."""
    point, table = KILL_POINTS[stage]
    workspace.warehouse.close()
    log = workspace.root / f"run-killed-{stage}.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-c", _KILL_AT, point, table, "--debug", *workspace.load_args()],
            cwd=workspace.root,
            # One load worker: at the kill point no other job is half done, so each kill point
            # tests exactly one thing.
            env={**workspace.env(), "LOAD__WORKERS": "1"},
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
    workspace.witness.folder(log)
    return process


POLLED_STAGES: dict[str, tuple[Callable[[Workspace], bool], int]] = {
    "extract": (extracting, 100),
}


"""Stage -> (when to kill, emulator latency in ms that keeps the run in that stage long enough)."""


def kill_in_stage(workspace: Workspace, stage: str) -> set[str]:
    """Add 30 responses and run a load that dies by SIGKILL in `stage`; returns the new uuids."""
    emulator = workspace.emulator
    if stage in KILL_POINTS:
        added = set(add_responses(emulator, 30))
        process = spawn_load_killed_at(workspace, stage)
        try:
            assert process.wait(timeout=120) == -signal.SIGKILL, "the load was not killed"
        finally:
            stop(process)
        return added
    reached, latency_ms = POLLED_STAGES[stage]
    for _ in range(3):
        added = set(add_responses(emulator, 30))
        emulator.request_log.clear()
        emulator.faults.configure(latency_ms=latency_ms)
        process = workspace.spawn_load()
        killed = kill_when(process, lambda: reached(workspace), timeout=90)
        emulator.faults.clear()
        if killed:
            return added
        assert_ok(workspace.load())
    raise AssertionError(f"the load always finished before it reached {stage}")


@pytest.mark.parametrize("stage", [*POLLED_STAGES, *KILL_POINTS])
def test_s04_sigkill_then_rerun_converges(stage: str, workspace: Workspace) -> None:
    """New responses, a load killed with SIGKILL in `stage`, then reruns (at most two): the
    warehouse equals ground truth (merge and append tables alike), no response is lost, no
    package is left behind, and the stored state never claims data that is not loaded."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    assert_ok(workspace.load())
    added = kill_in_stage(workspace, stage)
    try:
        assert_state_not_ahead(warehouse)
    except AssertionError as wrong:
        raise AssertionError(f"right after a kill during {stage}: {wrong}") from None

    reruns = [workspace.load()]
    if reruns[-1].code != 0:
        reruns.append(workspace.load())
    assert reruns[-1].code == 0, (
        f"killed during {stage}; {len(reruns)} reruns failed:\n{error_text(reruns[-1].stderr)}"
    )
    try:
        assert_correct(warehouse, emulator)
        assert_state_not_ahead(warehouse)
    except AssertionError as wrong:
        raise AssertionError(f"after a kill during {stage} and a rerun: {wrong}") from None
    loaded = {row[0] for row in warehouse.query("select uuid from {ds}.responses")}
    assert added <= loaded, f"after a kill during {stage}, responses were lost"
    assert workspace.packages("load/normalized") == [], f"{stage}: a package was left behind"
