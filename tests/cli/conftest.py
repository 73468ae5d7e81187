"""Fixtures for CLI tests: an in-process CLI runner (`dlt_project` is in tests/conftest.py).

Helpers live in tests/cli/helpers.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines.cli import main
from tests.cli.helpers import CliResult


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `refiner <args>` in-process through pipelines.cli.main; returns code and output."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
