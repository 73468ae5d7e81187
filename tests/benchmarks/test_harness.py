"""`benchmarks/run` end to end on a tiny dataset: the harness works and records every figure.

Timing targets are not asserted here (they belong to `benchmarks/run` on a quiet machine); this
proves that every suite runs, that results.json has the documented structure, and that every
measured number is positive.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTENDERS = {
    "L_parse",
    "L_sink",
    "L_http",
    "naive",
    "dlt-default",
    "refiner-dlt",
    "refiner-dlt-all",
}


@pytest.mark.slow
def test_quick_run_writes_complete_results(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            str(REPO_ROOT / "benchmarks" / "run"),
            "--quick",
            "--sizes",
            "1500",
            "--runs",
            "1",
            "--skip",
            "latency",
            "--reverse-diff",
            "300",
            "--reverse-push",
            "30",
            "--output",
            str(output),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(output.read_text())

    machine = results["machine"]
    assert machine["cpu_count"] >= 1 and machine["memory_gb"] > 0
    assert machine["python"] and machine["packages"]["dlt"] and machine["date"]

    block = results["sizes"]["1500"]
    assert block["dataset"]["responses"] > 0 and block["dataset"]["contacts"] > 0
    assert set(block["figures"]) == CONTENDERS
    for figure in block["figures"].values():
        assert figure["runs"] == 1
        assert figure["median_seconds"] > 0 and figure["responses_per_second"] > 0
        assert figure["max_peak_rss_mb"] > 0

    # Every round reads pre-rendered pages: the warm-up rendered refiner-dlt's date windows,
    # so its round renders only the count requests whose range ends at "now".
    for name in ("naive", "refiner-dlt", "refiner-dlt-all"):
        warmed = block["warm_up"][name]["server_rendered_pages"][0]
        assert block["figures"][name]["server_rendered_pages"][0] < warmed, name

    noop = block["noop"]
    assert noop["median_seconds"] > 0 and noop["median_help_seconds"] > 0
    assert noop["requests_by_path"][0]["/responses"] >= 1

    digest = block["digest"]
    assert digest["median_seconds"] > digest["median_startup_seconds"] > 0
    assert digest["median_cpu_seconds"] > 0
    assert digest["day_responses"] > 0 and digest["trend_days_with_nps"] > 0

    reverse = results["reverse_sync"]
    assert reverse["diff"]["median_seconds"] > 0 and reverse["push"]["median_seconds"] > 0
    assert reverse["diff_requests"] == [0]
    assert reverse["push_requests_by_path"][0]["/identify-user"] == 30

    names = {target["name"] for target in results["targets"]}
    assert {
        "full load vs dlt-default",
        "no-op requests",
        "digest wall time",
        "memory at 1M",
    } <= names
    for target in results["targets"]:
        assert target["measured"] and target["passed"] in (True, False, None)
    assert "full load vs dlt-default" in completed.stdout
