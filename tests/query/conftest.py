"""Fixtures of the query tests: one loaded and transformed DuckDB warehouse per test process,
and a small DuckDB file of hand-written rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from tests.query.helpers import KNOWN_ROWS, Loaded, build_warehouse, query_seed, refiner_env


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    directory = tmp_path_factory.mktemp("query-duckdb")
    path = directory / "refiner.duckdb"
    emulator = Emulator(query_seed()).start()
    try:
        with refiner_env(emulator):
            build_warehouse(emulator, directory, "duckdb", path)
        yield Loaded(emulator, path)
    finally:
        emulator.stop()


@pytest.fixture
def known(tmp_path: Path) -> Path:
    """A DuckDB file with table `refiner_raw.known` holding KNOWN_ROWS."""
    import duckdb

    path = tmp_path / "known.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE SCHEMA refiner_raw")
    connection.execute(
        "CREATE TABLE refiner_raw.known (id INTEGER, answer VARCHAR, "
        "answered_at TIMESTAMPTZ, score DECIMAL(6, 2))"
    )
    connection.executemany("INSERT INTO refiner_raw.known VALUES (?, ?, ?, ?)", KNOWN_ROWS)
    connection.close()
    return path
