"""The notebook API on DuckDB: `query()` DataFrames with the right dtypes, `dataset()` from dlt,
and importing `pipelines.query` without loading pandas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.query import dataset, query
from pipelines.query.engine import QueryRefused
from tests.query.helpers import Loaded


def test_query_returns_typed_dataframe(loaded: Loaded) -> None:
    frame = query(
        "select uuid, show_counter, completed_at, form_name "
        "from refiner_raw.responses order by completed_at",
        duckdb_path=str(loaded.path),
    )
    completed = [r for r in loaded.emulator.store.responses.values() if r["completed_at"]]
    assert len(frame) == len(completed)
    assert str(frame["completed_at"].dtype) in ("datetime64[us, UTC]", "datetime64[ns, UTC]")
    assert str(frame["completed_at"].dt.tz) == "UTC"
    assert frame["show_counter"].dtype == "int64"
    assert frame["uuid"].dtype == object
    assert frame["completed_at"].is_monotonic_increasing
    assert set(frame["uuid"]) == {r["uuid"] for r in completed}


def test_query_of_marts(loaded: Loaded) -> None:
    frame = query("select * from refiner_analytics.nps_daily", duckdb_path=str(loaded.path))
    assert frame["nps"].dtype == "float64"
    assert frame["responses"].dtype == "int64"
    assert isinstance(frame, pd.DataFrame) and not frame.empty


def test_query_is_sandboxed(loaded: Loaded) -> None:
    with pytest.raises(QueryRefused):
        query("drop table refiner_raw.responses", duckdb_path=str(loaded.path))


def test_dataset_is_dlts_view_of_the_loaded_tables(loaded: Loaded) -> None:
    ds = dataset(duckdb_path=str(loaded.path))
    frame = ds.responses.df()
    completed = sum(1 for r in loaded.emulator.store.responses.values() if r["completed_at"])
    assert len(frame) == completed
    # `ds.responses.arrow()` needs DuckDB's removed fetch_arrow_table (dlt 1.31, DuckDB 2.0);
    # the chunked reader works on both.
    batches = list(ds.responses.iter_arrow(chunk_size=100))
    assert sum(batch.num_rows for batch in batches) == completed
    assert str(frame["completed_at"].dt.tz) == "UTC"


def test_importing_the_package_does_not_load_pandas_or_duckdb(tmp_path: Path) -> None:
    script = (
        "import sys; import pipelines.query, pipelines.query.engine, pipelines.cli.sql; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'duckdb', 'dlt') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert out.stdout.strip() == "[]"
