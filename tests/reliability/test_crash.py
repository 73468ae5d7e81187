"""Fault matrix, scenario 4: `refiner load` killed with SIGKILL during extract, right after
normalize, and during load; each time the rerun converges and the state stored in the warehouse
never claims data that is not loaded.

The kills hit real child processes. The stage is read from dlt's pipeline folder:
`normalize/extracted/<load_id>` while extracting, `load/normalized/<load_id>` once normalized,
and `completed_jobs/` files inside it while the load step runs. Emulator latency slows the
extract enough to kill it mid-way. Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from datetime import datetime

import pytest

from tests.load.conftest import Warehouse
from tests.reliability.conftest import (
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


def normalized(workspace: Workspace) -> bool:
    """A package was committed to `load/normalized` (normalize's last step)."""
    return bool(workspace.packages("load/normalized"))


def loading(workspace: Workspace) -> bool:
    """The load step has finished at least one job of the package."""
    return any(
        (package / "completed_jobs").is_dir() and any((package / "completed_jobs").iterdir())
        for package in workspace.packages("load/normalized")
    )


STAGES: dict[str, tuple[Callable[[Workspace], bool], int]] = {
    "extract": (extracting, 200),
    "load": (loading, 0),
    "normalize": (normalized, 0),
}
"""Stage -> (when to kill, emulator latency in ms that keeps the run in that stage long enough)."""


@pytest.mark.parametrize("stage", list(STAGES))
def test_s04_sigkill_then_rerun_converges(stage: str, workspace: Workspace) -> None:
    """New responses, a load killed with SIGKILL in `stage`, then reruns (at most two): the
    warehouse equals ground truth (merge and append tables alike), no response is lost, no
    package is left behind, and the stored state never claims data that is not loaded."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    reached, latency_ms = STAGES[stage]
    assert_ok(workspace.load())
    killed = False
    for _ in range(3):
        added = set(add_responses(emulator, 30))
        emulator.request_log.clear()
        emulator.faults.configure(latency_ms=latency_ms)
        process = workspace.spawn_load()
        killed = kill_when(process, lambda: reached(workspace), timeout=90)
        emulator.faults.clear()
        if killed:
            break
        assert_ok(workspace.load())
    assert killed, f"the load always finished before it reached {stage}"
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
