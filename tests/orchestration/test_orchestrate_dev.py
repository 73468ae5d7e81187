"""`refiner orchestrate` serves the Dagster UI on loopback with refiner's jobs loaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ports import free_port

pytest.importorskip("dagster", reason="needs the dagster extra: pip install 'refiner-dlt[dagster]'")

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
JOBS_QUERY = "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
STARTUP_SECONDS = 180


def loaded_jobs(port: int) -> set[str]:
    """Job names the webserver reports, or an empty set while it or its code server starts."""
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/graphql", json={"query": JOBS_QUERY}, timeout=5
        )
    except httpx.HTTPError:
        return set()
    if answer.status_code != 200:
        return set()
    data: Any = answer.json().get("data") or {}
    nodes = (data.get("repositoriesOrError") or {}).get("nodes") or []
    return {job["name"] for node in nodes for job in node["jobs"]}


def test_orchestrate_serves_the_definitions_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "dagster-home"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "orchestrate", "--port", str(port),
         "--dagster-home", str(home)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        jobs: set[str] = set()
        while time.monotonic() < deadline and process.poll() is None:
            jobs = loaded_jobs(port)
            if "refiner_incremental" in jobs:
                break
            time.sleep(2)
        assert {"refiner_incremental", "refiner_reconcile"} <= jobs
        assert "refiner/warehouse" in (home / "dagster.yaml").read_text()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            stdout, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, _ = process.communicate()
    assert stdout.splitlines()[0].startswith(
        f"Starting Dagster: open http://127.0.0.1:{port} once it reports it is serving"
    )
