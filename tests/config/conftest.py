"""Fixtures for the settings tests: an isolated dlt project folder with no REFINER settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.config.helpers import DltProject, reload_dlt_providers


@pytest.fixture
def dlt_project(tmp_path: Path) -> Iterator[DltProject]:
    """An empty dlt project (tmp_path/.dlt) that dlt's providers read; every
    SOURCES__REFINER__* variable is removed for the test and restored after it."""
    saved = {
        name: os.environ.pop(name)
        for name in list(os.environ)
        if name.startswith("SOURCES__REFINER__") or name == "DLT_PROJECT_DIR"
    }
    (tmp_path / ".dlt").mkdir()
    os.environ["DLT_PROJECT_DIR"] = str(tmp_path)
    reload_dlt_providers()
    try:
        yield DltProject(tmp_path)
    finally:
        for name in list(os.environ):
            if name.startswith("SOURCES__REFINER__") or name == "DLT_PROJECT_DIR":
                del os.environ[name]
        os.environ.update(saved)
        reload_dlt_providers()
