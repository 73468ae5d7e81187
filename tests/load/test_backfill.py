"""Backfill: `refiner load --since ... --until ...` loads in date windows and, killed in a later
window, resumes at that window without fetching finished windows again."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from emulator import Emulator
from tests.load.helpers import (
    api_instant,
    assert_no_duplicate_keys,
    duckdb_warehouse,
    expected_keys,
    key_diff,
    load,
    load_args,
    load_env,
    refiner_process,
)

WINDOW_DAYS = 30  # pipelines/load/run.py BACKFILL_WINDOW_DAYS


def _window_starts(emulator: Emulator) -> list[datetime]:
    return [
        start
        for entry in emulator.request_log.filter(path="/responses")
        if (start := api_instant(str(entry.params.get("date_range_start") or "") or None))
    ]


def test_backfill_killed_in_the_last_window_resumes_there(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    emulator = load_emulator
    warehouse = duckdb_warehouse(tmp_path)
    pipelines = tmp_path / "pipelines"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=3 * WINDOW_DAYS)
    last_window = since + timedelta(days=2 * WINDOW_DAYS)
    options = (
        "--resources",
        "responses",
        "--since",
        since.date().isoformat(),
        "--until",
        today.date().isoformat(),
    )

    emulator.faults.configure(latency_ms=250)
    process = refiner_process(
        load_args(warehouse, pipelines, *options), load_env(emulator, warehouse, pipelines)
    )
    try:
        deadline = time.monotonic() + 90
        while not any(start >= last_window for start in _window_starts(emulator)):
            assert process.poll() is None, "the backfill ended before its last window"
            assert time.monotonic() < deadline, "the backfill never reached its last window"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    emulator.faults.clear()
    emulator.request_log.clear()

    load(emulator, warehouse, pipelines, *options)

    starts = _window_starts(emulator)
    assert starts, "the resumed backfill fetched nothing"
    assert min(starts) >= last_window, f"finished windows fetched again from {min(starts)}"
    for table in ("responses", "response_answers"):
        expected = expected_keys(emulator)[table]
        actual = warehouse.keys(table)
        assert actual == expected, f"{table}: {key_diff(actual, expected)}"
    assert_no_duplicate_keys(warehouse)
