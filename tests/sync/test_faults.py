"""Reverse sync under faults: 503/429 retried over two runs, rate limit kept, SIGKILL mid-push."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from emulator import DEFAULT_API_KEY, Emulator
from pipelines.sync.input import SyncInput
from pipelines.sync.plan import SyncPlan
from pipelines.sync.runs import TraitOptions, WarehouseTarget, execute, prepare_traits
from pipelines.sync.send import SyncReport
from sources.refiner.client import RefinerClient
from tests.sync.conftest import Run, identify_requests, query, trait_rows, write_traits

REPO = Path(__file__).resolve().parents[2]


def push(emulator: Emulator, path: Path, *, attempts: int) -> tuple[SyncPlan, SyncReport]:
    target = WarehouseTarget("duckdb", str(path))
    plan = prepare_traits(target, SyncInput(), TraitOptions())
    with RefinerClient(
        DEFAULT_API_KEY,
        emulator.base_url,
        max_attempts=attempts,
        backoff_initial=0.01,
        backoff_max=0.05,
    ) as client:
        return plan, execute(target, plan, client, workers=6)


def test_503_and_429_every_row_succeeds_over_two_runs(
    emulator: Emulator, duckdb_path: Path
) -> None:
    rows = trait_rows(emulator, 30)
    write_traits(duckdb_path, rows)
    emulator.faults.configure(
        error_rate=0.3, error_statuses=(503,), rate_limit_per_second=40, rate_limit_burst=4
    )

    _, first = push(emulator, duckdb_path, attempts=1)
    assert first.failed > 0 and first.succeeded > 0
    statuses = {entry.status for entry in identify_requests(emulator)}
    assert {503, 202} <= statuses
    emulator.request_log.clear()

    plan, second = push(emulator, duckdb_path, attempts=8)

    assert len(plan.to_send) == first.failed
    assert second.failed == 0 and second.succeeded == first.failed
    retried = query(
        duckdb_path,
        "SELECT identifier FROM refiner_raw.refiner_sync_log GROUP BY identifier "
        "HAVING count(*) FILTER (WHERE status = 'failed') > 0 "
        "AND count(*) FILTER (WHERE status = 'succeeded') = 1",
    )
    assert len(retried) == first.failed
    for row in rows:
        found = next(c for c in emulator.store.contacts.values() if c["remote_id"] == row[1])
        assert found["attributes"]["latest_nps_score"] == row[3]


def test_configured_rate_is_never_exceeded_even_under_429(
    emulator: Emulator, duckdb_path: Path, run_cli: Run
) -> None:
    write_traits(duckdb_path, trait_rows(emulator, 20))
    emulator.faults.add(kind="status", status=429, retry_after=0, path="/identify-user", times=4)
    emulator.request_log.clear()
    rate = 10.0  # requests per second

    result = run_cli(
        emulator, "push-traits", "--duckdb-path", str(duckdb_path),
        "--requests-per-minute", str(rate * 60), "--workers", "8",
    )  # fmt: skip

    assert result.exit_code == 0, result.stdout + result.stderr
    times = sorted(entry.at for entry in identify_requests(emulator))
    assert len(times) == 24
    # At most `rate` requests start in any 1-second window, so any k * rate + 1 consecutive
    # requests span >= k seconds (one request of slack for loopback jitter in the arrival
    # times).
    for start in range(len(times)):
        for end in range(start + 2, len(times)):
            assert times[end] - times[start] >= (end - start - 1) // int(rate) - 0.05


def test_sigkill_mid_push_resends_at_most_the_in_flight_rows(
    emulator: Emulator, duckdb_path: Path
) -> None:
    rows = trait_rows(emulator, 48)
    write_traits(duckdb_path, rows)
    emulator.faults.configure(latency_ms=60)
    workers = 4
    command = [
        sys.executable, "-m", "pipelines.cli", "push-traits", "--duckdb-path", str(duckdb_path),
        "--api-key", DEFAULT_API_KEY, "--base-url", emulator.base_url,
        "--workers", str(workers),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(identify_requests(emulator)) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = [entry.params["id"] for entry in identify_requests(emulator)]
    assert 20 <= len(first) < 48
    emulator.faults.configure(latency_ms=0)
    emulator.request_log.clear()

    target = WarehouseTarget("duckdb", str(duckdb_path))
    plan = prepare_traits(target, SyncInput(), TraitOptions())
    resent = {row.identifier for row in plan.to_send} & set(first)
    assert len(resent) <= 2 * workers  # in flight, or finished and awaiting their write
    assert len(plan.to_send) == 48 - len(set(first)) + len(resent)
    with RefinerClient(DEFAULT_API_KEY, emulator.base_url) as client:
        report = execute(target, plan, client)
    assert report.failed == 0
    for row in rows:
        found = next(c for c in emulator.store.contacts.values() if c["remote_id"] == row[1])
        assert found["attributes"]["feedback_health"] == row[8]
    assert query(duckdb_path, "SELECT count(*) FROM refiner_raw.refiner_sync_state") == [(48,)]
