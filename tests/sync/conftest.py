"""Helpers for reverse-sync tests: a contact_traits table in DuckDB and a CLI runner.

Helpers live in tests/sync/helpers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from pipelines.cli import main
from tests.sync.helpers import (
    CliResult,
    Run,
)


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "refiner.duckdb"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """run_cli(emulator, *args, api_key=DEFAULT_API_KEY): run `refiner <args>` in-process."""

    def run(emulator: Emulator, *args: str, api_key: str = DEFAULT_API_KEY) -> CliResult:
        capsys.readouterr()
        code = main([*args, "--api-key", api_key, "--base-url", emulator.base_url])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
