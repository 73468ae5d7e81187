"""Reverse sync: diffing unchanged traits, and pushing changed ones at R requests/s.

A DuckDB table of contacts with five traits is created and marked as accepted in the sync
state (see `tasks.reverse_setup`). Then, each round: the diff with nothing changed (it must
send 0 requests), and, after `push` rows changed, the diff plus the push under a request budget
of R requests/s, enforced by the client and checked by the emulator's token bucket. The timed
sections are the reverse sync's own `prepare_traits` / `execute`; the process wall
time (interpreter start-up and imports included) is recorded beside them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from benchmarks.emulator_proc import EmulatorProcess, count_by_path, max_in_window
from benchmarks.procs import run_task
from benchmarks.stats import Figure

SCHEMA, TABLE, DATASET, SYNC_NAME = "bench", "traits", "refiner", "bench_traits"
# Request budget R for the push, in requests per second: above Refiner's documented 4,000 per
# minute (66.7/s), so that 10k rows take 100 s per round rather than 150 s.
PUSH_RATE = 100.0
# Concurrent requests, as `refiner push-traits --workers` defaults to.
PUSH_WORKERS = 8


def reverse_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Diff `args.reverse_diff` unchanged rows, push `args.reverse_push` changed rows."""
    directory = args.work_dir / "reverse"
    directory.mkdir(parents=True, exist_ok=True)
    table = {
        "database": str(directory / "reverse.duckdb"),
        "schema": SCHEMA,
        "table": TABLE,
        "dataset": DATASET,
        "sync_name": SYNC_NAME,
    }
    diff = Figure("reverse diff", args.reverse_diff)
    push = Figure("reverse push", args.reverse_push)
    diff_requests: list[int] = []
    push_windows: list[int] = []
    push_counts: list[dict[str, int]] = []
    with EmulatorProcess({"seed": 7, "responses": 100, "contacts": 50, "accounts": 10}) as emu:
        run_task("reverse_setup", {**table, "rows": args.reverse_diff})
        emu.set_faults(rate_per_second=PUSH_RATE)
        for _ in range(args.runs):
            emu.clear_log()
            diff.add(run_task("reverse_diff", table))
            diff_requests.append(len(emu.requests()))
            run_task("reverse_change", {**table, "rows": args.reverse_push})
            emu.clear_log()
            push.add(
                run_task(
                    "reverse_push",
                    {
                        **table,
                        "api_key": emu.api_key,
                        "base_url": emu.base_url,
                        "rate": PUSH_RATE,
                        "workers": PUSH_WORKERS,
                    },
                )
            )
            log = emu.requests()
            push_windows.append(max_in_window(log))
            push_counts.append(count_by_path(log))
        emu.set_faults()
    shutil.rmtree(directory, ignore_errors=True)
    budget = 1.1 * args.reverse_push / PUSH_RATE
    sys.stderr.write(
        f"[bench] reverse sync: diff {diff.median_seconds:.2f} s ({max(diff_requests)} requests),"
        f" push {push.median_seconds:.2f} s (budget {budget:.1f} s)\n"
    )
    return {
        "diff": diff.as_dict(),
        "diff_requests": diff_requests,
        "push": push.as_dict(),
        "rate": round(PUSH_RATE, 3),
        "workers": PUSH_WORKERS,
        "push_budget_seconds": round(budget, 3),
        "push_requests_by_path": push_counts,
        "push_max_requests_in_1s": push_windows,
    }
