"""Memory: a DuckDB load step starts with the memory the extract step freed handed back.

DuckDB allocates through its own allocator, so pages that pyarrow's pool or glibc's malloc
keep for reuse would sit beside DuckDB's for the whole load step (see
`pipelines.load.steps.release_freed_memory`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import pipelines.load.steps
from emulator import Emulator
from tests.load.helpers import duckdb_warehouse, load

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _rss_mb() -> float:
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_freed_arrow_buffers_are_handed_back() -> None:
    arrays = [pa.repeat(pa.scalar(1, pa.int64()), 8192) for _ in range(4000)]  # 4,000 x 64 KB
    assert pa.total_allocated_bytes() >= 250 * 2**20
    del arrays
    kept = _rss_mb()

    pipelines.load.steps.release_freed_memory()

    assert kept - _rss_mb() > 125, "less than half of 250 MB of freed buffers was handed back"


def test_each_duckdb_load_step_starts_by_handing_memory_back(
    load_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = duckdb_warehouse(tmp_path)
    release = pipelines.load.steps.release_freed_memory
    tables_at_release: list[set[str]] = []

    def observed() -> None:
        tables_at_release.append(warehouse.tables())
        warehouse.close()
        release()

    monkeypatch.setattr(pipelines.load.steps, "release_freed_memory", observed)

    load(load_emulator, warehouse, tmp_path / "pipelines")
    assert len(tables_at_release) == 1
    assert "responses" not in tables_at_release[0], "memory was released after the load step"
    assert "responses" in warehouse.tables()
    load(load_emulator, warehouse, tmp_path / "pipelines")
    assert len(tables_at_release) == 2
