"""Fixtures of the digest tests: one hand-made warehouse per test process, and a clean [digest]."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.digest.helpers import Warehouse, build_warehouse


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The RESPONSES of tests/digest/helpers.py, loaded and modelled in a DuckDB file."""
    return build_warehouse(tmp_path_factory.mktemp("digest"))


@pytest.fixture(autouse=True)
def _no_digest_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sets the DIGEST__* variables it needs, and sees no others."""
    for name in list(os.environ):
        if name.startswith("DIGEST__"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from `tmp_path`, so the default ./digest output lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
