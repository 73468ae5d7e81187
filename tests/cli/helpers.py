"""Helpers of the CLI tests: an isolated dlt project folder and an in-process runner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str
