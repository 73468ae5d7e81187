"""Bad input: a wrong key, an unreachable base_url or a malformed --since fail cleanly.

Each exits non-zero with a one-line error and no traceback, never prints the key, and leaves a
previously loaded warehouse exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.cli_run import CliRun
from tests.load.helpers import (
    Warehouse,
    duckdb_warehouse,
    load,
    load_args,
    load_env,
    load_seed,
    run_refiner_process,
)
from tests.ports import free_port

WRONG_KEY = "0badc0de-5ec2-4e7a-b1e5-5e7e1a1c0de5"


@dataclass(frozen=True)
class Loaded:
    emulator: Emulator
    warehouse: Warehouse
    pipelines: Path
    fingerprint: str


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """One warehouse loaded once; every bad-input case must leave it exactly as it is."""
    tmp_path = tmp_path_factory.mktemp("bad-input")
    with Emulator(seed=load_seed()) as emulator:
        warehouse = duckdb_warehouse(tmp_path)
        load(emulator, warehouse, tmp_path / "pipelines")
        fingerprint = warehouse.fingerprint()
        warehouse.close()
        yield Loaded(emulator, warehouse, tmp_path / "pipelines", fingerprint)


def _assert_clean_failure(run: CliRun, *secrets: str) -> None:
    assert run.code != 0, f"exited 0:\n{run.output}"
    assert "Traceback" not in run.output, run.output
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line error, got:\n{run.stderr}"
    for secret in secrets:
        assert secret not in run.output, "the API key was printed"


@pytest.mark.parametrize("case", ["wrong_key", "unreachable", "malformed_since"])
def test_bad_input_fails_in_one_line_and_leaves_the_warehouse_untouched(
    case: str, loaded: Loaded
) -> None:
    warehouse, pipelines = loaded.warehouse, loaded.pipelines
    env = load_env(loaded.emulator, warehouse, pipelines, max_attempts=2)
    args = load_args(warehouse, pipelines)
    if case == "wrong_key":
        env = load_env(loaded.emulator, warehouse, pipelines, api_key=WRONG_KEY, max_attempts=2)
    elif case == "unreachable":
        env = load_env(
            None,
            warehouse,
            pipelines,
            base_url=f"http://127.0.0.1:{free_port()}/v1",
            max_attempts=2,
        )
    else:
        args = load_args(warehouse, pipelines, "--since", "2024-13-45")

    run = run_refiner_process(args, env)

    _assert_clean_failure(run, WRONG_KEY, DEFAULT_API_KEY)
    if case == "wrong_key":
        assert run.code == 3, run.output
    if case == "malformed_since":
        assert run.code == 2, run.output
        assert "--since" in run.stderr or "since" in run.stderr.lower()
    try:
        assert warehouse.fingerprint() == loaded.fingerprint, "a failed load changed the warehouse"
    finally:
        warehouse.close()
