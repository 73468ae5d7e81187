"""A DuckDB file held open by another process fails the load with one line that says so.

The line names the file, the holder's PID and program (from DuckDB's own lock message) and
what to do, so a scheduled load does not look like a network or credentials failure. The
holder is a real second process with the file open for writing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from tests.cli_run import run_refiner
from tests.load.helpers import duckdb_warehouse, load, load_args, load_env

_HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); input()"


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A second process that holds tmp_path/warehouse.duckdb open until the test ends."""
    database = tmp_path / "warehouse.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield process, database
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("loaded_before", [False, True], ids=["first-load", "later-load"])
def test_busy_duckdb_file_is_named_with_its_holder(
    load_emulator: Emulator,
    tmp_path: Path,
    loaded_before: bool,
    request: pytest.FixtureRequest,
) -> None:
    warehouse = duckdb_warehouse(tmp_path)
    pipelines = tmp_path / "pipelines"
    if loaded_before:
        load(load_emulator, warehouse, pipelines)
    process, database = request.getfixturevalue("holder")

    run = run_refiner(
        *load_args(warehouse, pipelines), env=load_env(load_emulator, warehouse, pipelines)
    )

    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.code == 1, run.output
    assert len(lines) == 1, lines
    assert f"DuckDB file {database} is locked by" in lines[0]
    assert f"PID {process.pid}" in lines[0]
    assert "python" in lines[0]
    assert "close that program or its connection, then run again" in lines[0]
    assert "credentials" not in run.output and "internet" not in run.output
