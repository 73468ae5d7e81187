"""`refiner digest` on a loaded benchmark warehouse: wall time beyond Python's start-up.

The warehouse is the one the last round's plain `refiner load` (refiner-dlt-all) wrote.
`refiner transform` builds the marts first, outside the figure. Then, `runs` times each and
interleaved: a bare interpreter (`python -c pass`, Python's start-up) and `refiner digest --to
file` for the default day (yesterday, UTC: the dataset's last day), which runs every query,
draws the chart and writes the four files. The target (issue 19 §9) is the median digest time
minus the median start-up, at most 2 s. The digest's CPU time (user + system) is recorded
beside it: on a busy machine the wall time also holds the time spent waiting for a core.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks.procs import run_child
from benchmarks.stats import median

# Each run takes about 2 s, so more of them than the load rounds cost little and steady the
# median.
MIN_RUNS = 5


def _children_cpu_seconds() -> float:
    """User + system CPU of every child this process has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def digest_suite(loaded: Path, runs: int, refiner: list[str]) -> dict[str, Any]:
    """Transform `loaded`/bench.duckdb, then time `refiner digest` against `python -c pass`.

    `refiner` is the argv prefix of the console script.
    """
    database = loaded / "bench.duckdb"
    scratch = loaded / "digest"
    dbt_paths = {"DBT_TARGET_PATH": str(scratch / "target"), "DBT_LOG_PATH": str(scratch / "logs")}
    transform = run_child(
        [*refiner, "transform", "--duckdb-path", str(database), "--quiet"],
        env=dbt_paths,
        expect_report=False,
    )
    output = scratch / "out"
    argv = [*refiner, "digest", "--duckdb-path", str(database), "--to", "file",
            "--output-dir", str(output)]  # fmt: skip
    startup: list[float] = []
    digest: list[float] = []
    cpu: list[float] = []
    for _ in range(max(runs, MIN_RUNS)):
        startup.append(run_child([sys.executable, "-c", "pass"], expect_report=False).wall_seconds)
        before = _children_cpu_seconds()
        digest.append(run_child(argv, expect_report=False).wall_seconds)
        cpu.append(_children_cpu_seconds() - before)
    figures = json.loads((output / "digest.json").read_text())
    shutil.rmtree(scratch, ignore_errors=True)
    beyond = median(digest) - median(startup)
    sys.stderr.write(
        f"[bench] digest: {median(digest):.2f} s (Python start-up {median(startup):.2f} s, "
        f"+{beyond:.2f} s; CPU {median(cpu):.2f} s) for {figures['responses']['count']:,} "
        f"responses on {figures['period']['first_day']}\n"
    )
    return {
        "transform_seconds": round(transform.wall_seconds, 3),
        "startup_seconds": [round(s, 3) for s in startup],
        "median_startup_seconds": round(median(startup), 3),
        "seconds": [round(s, 3) for s in digest],
        "median_seconds": round(median(digest), 3),
        "beyond_startup_seconds": round(beyond, 3),
        "cpu_seconds": [round(s, 3) for s in cpu],
        "median_cpu_seconds": round(median(cpu), 3),
        "day": figures["period"]["first_day"],
        "day_responses": figures["responses"]["count"],
        "trend_days_with_nps": sum(1 for point in figures["nps_trend"] if point["nps"] is not None),
    }
