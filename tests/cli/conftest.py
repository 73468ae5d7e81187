"""Fixtures for CLI tests: an isolated dlt project directory and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.cli import main

REFINER_ENV = (
    "SOURCES__REFINER__API_KEY",
    "SOURCES__REFINER__BASE_URL",
    "SOURCES__REFINER__REQUESTS_PER_MINUTE",
    "SOURCES__REFINER__MAX_ATTEMPTS",
    "SOURCES__REFINER__TIMEOUT_SECONDS",
)


def _reload_dlt_providers() -> None:
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()


@dataclass
class DltProject:
    """A dlt project directory whose .dlt files dlt's providers read."""

    path: Path

    def write(self, secrets: str = "", config: str = "") -> None:
        """Replace .dlt/secrets.toml and .dlt/config.toml, then make dlt re-read them."""
        (self.path / ".dlt" / "secrets.toml").write_text(secrets)
        (self.path / ".dlt" / "config.toml").write_text(config)
        _reload_dlt_providers()


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


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `refiner <args>` in-process through pipelines.cli.main; returns code and output."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
