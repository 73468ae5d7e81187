"""Reverse sync under faults: 503/429 retried over two runs, rate limit kept, SIGKILL mid-push.

Fault matrix, scenario 14 (`refiner push-traits` under rejections, SIGKILL and 429): the
input is a plain table in the DuckDB warehouse (`staging.traits`: remote_id plus traits), so
those tests need neither a load nor dbt. Every run uses the sentinel key with `--debug`; the
sync log rows are handed to the secret witness as well as the files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from emulator import DEFAULT_API_KEY, Emulator
from pipelines.sync.input import SyncInput
from pipelines.sync.plan import SyncPlan
from pipelines.sync.runs import TraitOptions, WarehouseTarget, execute, prepare_traits
from pipelines.sync.send import SyncReport
from sources.refiner.client import RefinerClient
from tests.load.helpers import Warehouse
from tests.load.scenarios import Workspace, assert_ok, stop, wait_until
from tests.sync.helpers import Run, identify_requests, query, trait_rows, write_traits

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


TABLE = "staging.traits"


def write_staging_traits(
    warehouse: Warehouse, count: int, *, version: int = 1
) -> dict[str, dict[str, Any]]:
    """(Re)create `staging.traits` with `count` contacts; returns remote_id -> traits."""
    import duckdb

    rows = {
        f"rel-{i:05d}": {
            "plan": f"plan-{(i + version) % 3}",
            "health_score": i * 10 + version,
            "is_promoter": i % 2 == 0,
        }
        for i in range(count)
    }
    warehouse.close()
    connection = duckdb.connect(warehouse.location)
    try:
        connection.execute("create schema if not exists staging")
        connection.execute(
            "create or replace table staging.traits "
            "(remote_id text, plan text, health_score bigint, is_promoter boolean)"
        )
        connection.executemany(
            "insert into staging.traits values (?, ?, ?, ?)",
            [(rid, t["plan"], t["health_score"], t["is_promoter"]) for rid, t in rows.items()],
        )
    finally:
        connection.close()
    return rows


def push_args(workspace: Workspace, *extra: str) -> list[str]:
    """`push-traits` from the traits table into this workspace's warehouse."""
    warehouse = workspace.warehouse
    return [
        "push-traits",
        "--table",
        TABLE,
        "--destination",
        warehouse.destination,
        "--duckdb-path",
        warehouse.location,
        "--dataset",
        warehouse.dataset,
        *extra,
    ]


def sent_ids(emulator: Emulator, *, accepted: bool | None = None) -> list[str]:
    """`id`s of identify-user requests in the log (only 2xx ones when `accepted`)."""
    return [
        str(entry.params.get("id"))
        for entry in emulator.request_log.filter(path="/identify-user")
        if accepted is None or (200 <= entry.status < 300) == accepted
    ]


def settle(emulator: Emulator, quiet: float = 0.3, timeout: float = 10) -> None:
    """Wait until the request log stops growing: requests a killed client had in flight still
    finish on the server side."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline and len(emulator.request_log) != seen:
        seen = len(emulator.request_log)
        time.sleep(quiet)


def sync_log(workspace: Workspace) -> list[dict[str, Any]]:
    """Rows of `refiner_sync_log`; their text also goes to the secret witness."""
    rows = workspace.warehouse.rows("refiner_sync_log")
    workspace.witness.text("refiner_sync_log", repr(rows))
    return rows


def assert_refiner_has(emulator: Emulator, desired: dict[str, dict[str, Any]]) -> None:
    """Every contact exists in the emulator with exactly the desired trait values."""
    by_remote_id = {
        contact["remote_id"]: contact
        for contact in (
            emulator.store.render_contact(uuid) for uuid in list(emulator.store.contacts)
        )
    }
    for remote_id, traits in desired.items():
        assert remote_id in by_remote_id, f"{remote_id} never reached Refiner"
        attributes = by_remote_id[remote_id]["attributes"]
        assert {name: attributes.get(name) for name in traits} == traits, remote_id


def test_s14_rejected_rows_are_logged_and_sent_again_next_run(workspace: Workspace) -> None:
    """Refiner rejects 5 of 1,000 rows: run 1 logs 995 succeeded and 5 failed and exits 1;
    run 2 sends exactly those 5, and Refiner ends with every desired trait."""
    emulator = workspace.emulator
    desired = write_staging_traits(workspace.warehouse, 1000)
    rejected = sorted(desired)[100:1000:180]
    assert len(rejected) == 5
    rule = emulator.faults.add(
        "status", status=400, path="/identify-user", times=None, match={"id": rejected}
    )
    fast = ["--workers", "8", "--requests-per-minute", "600000"]

    first = workspace.run(*push_args(workspace, *fast))

    assert first.code == 1, first.output[-3000:]
    log = sync_log(workspace)
    statuses: dict[str, int] = {}
    for row in log:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    assert statuses == {"succeeded": 995, "failed": 5}
    assert sorted(row["identifier"] for row in log if row["status"] == "failed") == rejected
    assert all(row["error"] for row in log if row["status"] == "failed")
    assert rule.hits == 5, "a rejected (4xx) row was retried"

    emulator.faults.remove(rule.id)
    emulator.request_log.clear()
    second = workspace.run(*push_args(workspace, *fast))

    assert_ok(second)
    assert sorted(sent_ids(emulator)) == rejected
    assert_refiner_has(emulator, desired)
    last_run = [row for row in sync_log(workspace) if row["status"] == "succeeded"]
    assert len(last_run) == 1000


def test_s14_sigkill_mid_push_resends_at_most_the_rows_in_flight(workspace: Workspace) -> None:
    """A push killed mid-way: the rerun re-sends at most the rows that were in flight (the
    documented bound is 2 x workers) and Refiner ends in the desired state."""
    emulator = workspace.emulator
    workers = 4
    desired = write_staging_traits(workspace.warehouse, 300)
    delay = emulator.faults.add("delay", delay=0.03, path="/identify-user", times=None)
    args = push_args(workspace, "--workers", str(workers), "--requests-per-minute", "600000")
    process = workspace.spawn(*args)
    try:
        reached = wait_until(lambda: len(sent_ids(emulator)) >= 60, timeout=60)
        assert reached and process.poll() is None, "the push ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(process)
    emulator.faults.remove(delay.id)
    settle(emulator)
    accepted_before = set(sent_ids(emulator, accepted=True))
    assert 0 < len(accepted_before) < len(desired)
    emulator.request_log.clear()

    rerun = workspace.run(*args)

    assert_ok(rerun)
    resent = accepted_before & set(sent_ids(emulator))
    assert len(resent) <= 2 * workers, f"{len(resent)} rows sent twice: {sorted(resent)}"
    assert set(sent_ids(emulator)) | accepted_before == set(desired)
    assert_refiner_has(emulator, desired)


def test_s14_request_rate_holds_under_429(workspace: Workspace) -> None:
    """With 429s from Refiner, the push never exceeds its configured requests per minute,
    retries included, and every row ends succeeded."""
    emulator = workspace.emulator
    per_minute = 1200
    desired = write_staging_traits(workspace.warehouse, 60)
    emulator.faults.add("status", status=429, retry_after=0.5, times=12, path="/identify-user")
    args = push_args(workspace, "--workers", "8", "--requests-per-minute", str(per_minute))

    run = workspace.run(*args)

    assert_ok(run)
    times = sorted(entry.at for entry in emulator.request_log.filter(path="/identify-user"))
    assert len(times) == len(desired) + 12
    per_second = per_minute / 60
    burst = max(1, int(per_second * 0.1))
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= per_second + burst + 1, f"{busiest} requests in one second"
    assert_refiner_has(emulator, desired)


def test_s14_sentinel_key_never_reaches_the_sync_log(workspace: Workspace) -> None:
    """Failed rows log the redacted error text; neither it nor any column holds the key."""
    emulator = workspace.emulator
    write_staging_traits(workspace.warehouse, 20)
    emulator.faults.add("status", status=500, path="/identify-user", times=None)
    run = workspace.run(
        *push_args(workspace, "--workers", "2", "--requests-per-minute", "600000"), max_attempts=1
    )
    assert run.code == 1
    log = sync_log(workspace)
    assert len(log) == 20 and {row["status"] for row in log} == {"failed"}
    assert all("500" in (row["error"] or "") for row in log)
