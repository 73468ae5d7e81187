"""Bad input: a wrong key, an unreachable base_url or a malformed --since fail cleanly.

Each exits non-zero with a one-line error and no traceback, never prints the key, and leaves a
previously loaded warehouse exactly as it was.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.load.conftest import (
    CliRun,
    Warehouse,
    duckdb_warehouse,
    load,
    load_args,
    load_env,
    run_refiner_process,
)

WRONG_KEY = "0badc0de-5ec2-4e7a-b1e5-5e7e1a1c0de5"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def loaded(load_emulator: Emulator, tmp_path: Path) -> Warehouse:
    warehouse = duckdb_warehouse(tmp_path)
    load(load_emulator, warehouse, tmp_path / "pipelines")
    return warehouse


def _assert_clean_failure(run: CliRun, *secrets: str) -> None:
    assert run.code != 0, f"exited 0:\n{run.output}"
    assert "Traceback" not in run.output, run.output
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line error, got:\n{run.stderr}"
    for secret in secrets:
        assert secret not in run.output, "the API key was printed"


@pytest.mark.parametrize("case", ["wrong_key", "unreachable", "malformed_since"])
def test_bad_input_fails_in_one_line_and_leaves_the_warehouse_untouched(
    case: str, load_emulator: Emulator, loaded: Warehouse, tmp_path: Path
) -> None:
    pipelines = tmp_path / "pipelines"
    before = loaded.fingerprint()
    env = load_env(load_emulator, loaded, pipelines, max_attempts=2)
    args = load_args(loaded, pipelines)
    if case == "wrong_key":
        env = load_env(load_emulator, loaded, pipelines, api_key=WRONG_KEY, max_attempts=2)
    elif case == "unreachable":
        env = load_env(
            None,
            loaded,
            pipelines,
            base_url=f"http://127.0.0.1:{_closed_port()}/v1",
            max_attempts=2,
        )
    else:
        args = load_args(loaded, pipelines, "--since", "2024-13-45")

    run = run_refiner_process(args, env)

    _assert_clean_failure(run, WRONG_KEY, DEFAULT_API_KEY)
    if case == "wrong_key":
        assert run.code == 3, run.output
    if case == "malformed_since":
        assert run.code == 2, run.output
        assert "--since" in run.stderr or "since" in run.stderr.lower()
    assert loaded.fingerprint() == before, "the warehouse changed after a failed load"
