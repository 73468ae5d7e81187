"""A dlt project folder whose .dlt files a test writes, and the reload that makes dlt read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def reload_dlt_providers() -> None:
    """Make dlt read its environment and .dlt files again."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()


@dataclass
class DltProject:
    """A dlt project folder whose .dlt files dlt's providers read."""

    path: Path

    def write(self, secrets: str = "", config: str = "") -> None:
        """Replace .dlt/secrets.toml and .dlt/config.toml, then make dlt re-read them."""
        (self.path / ".dlt" / "secrets.toml").write_text(secrets)
        (self.path / ".dlt" / "config.toml").write_text(config)
        reload_dlt_providers()
