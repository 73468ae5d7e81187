"""Fixtures for CLI tests: an isolated dlt project directory and a CLI runner.

Helpers live in tests/cli/helpers.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.cli.helpers import REFINER_ENV, CliResult, DltProject, _reload_dlt_providers


@pytest.fixture
def dlt_project(tmp_path: Path) -> Iterator[DltProject]:
    """An empty dlt project (tmp_path/.dlt) that dlt's providers read; no REFINER env vars."""
    saved = {
        name: os.environ.pop(name)
        for name in (*REFINER_ENV, "DLT_PROJECT_DIR")
        if name in os.environ
    }
    (tmp_path / ".dlt").mkdir()
    os.environ["DLT_PROJECT_DIR"] = str(tmp_path)
    _reload_dlt_providers()
    try:
        yield DltProject(tmp_path)
    finally:
        for name in (*REFINER_ENV, "DLT_PROJECT_DIR"):
            os.environ.pop(name, None)
        os.environ.update(saved)
        _reload_dlt_providers()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `refiner <args>` in-process through pipelines.cli.main; returns code and output."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
