"""Fixtures of the end-to-end load tests: a warehouse per destination, and the load emulator.

Helpers live in tests/load/helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from tests.load.helpers import DESTINATIONS, Warehouse, load_seed, make_warehouse


@pytest.fixture(params=DESTINATIONS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse, once per destination (PostgreSQL only when configured)."""
    with make_warehouse(request.param, tmp_path) as made:
        yield made


@pytest.fixture
def load_emulator() -> Iterator[Emulator]:
    """A started emulator with the load seed."""
    with Emulator(seed=load_seed()) as emulator:
        yield emulator
