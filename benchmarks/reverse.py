"""Reverse sync: `refiner push-traits` diffing unchanged traits, and pushing changed ones at R.

A DuckDB table of contacts with five traits is created and marked as accepted in the sync
state (see `tasks.reverse_setup`). Then, each round: `push-traits` with nothing changed (the
diff; it must send 0 requests), and `push-traits` after `push` rows changed, under a request
budget of R requests/s enforced by the client and checked by the emulator's token bucket.
Times are process wall times of the CLI, start-up included.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks.emulator_proc import EmulatorProcess, count_by_path, max_in_window
from benchmarks.procs import run_child, run_task
from benchmarks.stats import median

SCHEMA, TABLE, DATASET, SYNC_NAME = "bench", "traits", "refiner", "bench_traits"
# Request budget for the push; high enough that 10k rows take under a minute per round.
PUSH_RATE = 200.0


def _push_argv(database: Path, emu: EmulatorProcess, rate: float) -> list[str]:
    return [
        str(Path(sys.executable).with_name("refiner")),
        "push-traits",
        "--table",
        f"{SCHEMA}.{TABLE}",
        "--exclude",
        "n",
        "--sync-name",
        SYNC_NAME,
        "--duckdb-path",
        str(database),
        "--dataset",
        DATASET,
        "--yes",
        "--base-url",
        emu.base_url,
        "--requests-per-minute",
        f"{rate * 60:g}",
    ]


def reverse_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Diff `args.reverse_diff` unchanged rows, push `args.reverse_push` changed rows."""
    directory = args.work_dir / "reverse"
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "reverse.duckdb"
    table = {
        "database": str(database),
        "schema": SCHEMA,
        "table": TABLE,
        "dataset": DATASET,
        "sync_name": SYNC_NAME,
    }
    with EmulatorProcess({"seed": 7, "responses": 100, "contacts": 50, "accounts": 10}) as emu:
        env = {"SOURCES__REFINER__API_KEY": emu.api_key}
        run_task("reverse_setup", {**table, "rows": args.reverse_diff})
        emu.set_faults(rate_per_second=PUSH_RATE)
        diff_seconds: list[float] = []
        diff_requests: list[int] = []
        push_seconds: list[float] = []
        push_windows: list[int] = []
        push_counts: list[dict[str, int]] = []
        for _ in range(args.runs):
            emu.clear_log()
            diff = run_child(_push_argv(database, emu, PUSH_RATE), env=env, expect_report=False)
            diff_seconds.append(diff.wall_seconds)
            diff_requests.append(len(emu.requests()))
            run_task("reverse_change", {**table, "rows": args.reverse_push})
            emu.clear_log()
            push = run_child(_push_argv(database, emu, PUSH_RATE), env=env, expect_report=False)
            push_seconds.append(push.wall_seconds)
            log = emu.requests()
            push_windows.append(max_in_window(log))
            push_counts.append(count_by_path(log))
        emu.set_faults()
    shutil.rmtree(directory, ignore_errors=True)
    budget = 1.1 * args.reverse_push / PUSH_RATE
    sys.stderr.write(
        f"[bench] reverse sync: diff {median(diff_seconds):.2f} s ({max(diff_requests)} requests),"
        f" push {median(push_seconds):.2f} s (budget {budget:.1f} s)\n"
    )
    return {
        "diff_rows": args.reverse_diff,
        "diff_seconds": [round(s, 3) for s in diff_seconds],
        "median_diff_seconds": round(median(diff_seconds), 3),
        "diff_requests": diff_requests,
        "push_rows": args.reverse_push,
        "rate": PUSH_RATE,
        "push_seconds": [round(s, 3) for s in push_seconds],
        "median_push_seconds": round(median(push_seconds), 3),
        "push_budget_seconds": round(budget, 3),
        "push_requests_by_path": push_counts,
        "push_max_requests_in_1s": push_windows,
    }
