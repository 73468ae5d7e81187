"""Crash safety: a load killed with SIGKILL mid-run, then rerun, equals a clean load."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from emulator import Emulator
from tests.load.conftest import (
    GROUND_TRUTH_TABLES,
    assert_consistent,
    duckdb_warehouse,
    load,
    load_args,
    load_env,
    refiner_process,
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
