"""The notebook API: `query()` returns a pandas DataFrame, `dataset()` dlt's dataset.

Both read the warehouse the way `refiner sql` does: DuckDB at `duckdb_path`, else dlt's
`destination.duckdb.credentials`, else ./refiner.duckdb; PostgreSQL from dlt's
`destination.postgres.credentials`. pandas is imported on the first call, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.defaults import DEFAULT_DATASET

if TYPE_CHECKING:
    import pandas as pd


def query(
    sql: str,
    *,
    destination: str = "duckdb",
    duckdb_path: str | None = None,
    timeout_s: float | None = None,
) -> pd.DataFrame:
    """Run one read-only SELECT and return every row as a DataFrame.

    Timestamps with a time zone come back as `datetime64[..., UTC]`; DECIMAL as Python
    Decimal objects (dtype object), integers with NULLs as float (pandas' default).
    Raises as `pipelines.query.engine.run_query`.
    """
    import pyarrow as pa

    from pipelines.query.engine import stream_query

    batches = list(
        stream_query(sql, destination=destination, duckdb_path=duckdb_path, timeout_s=timeout_s)
    )
    return pa.Table.from_batches(batches).to_pandas()


def dataset(
    *,
    destination: str = "duckdb",
    duckdb_path: str | None = None,
    dataset_name: str = DEFAULT_DATASET,
) -> Any:
    """dlt's dataset of the tables `refiner load` wrote (`refiner_raw` by default):
    `ds.responses.df()`, `ds.responses.arrow()`, `ds("select …").df()`.

    Unlike `query()`, this is dlt's own read access, without the sandbox: use it for your own
    notebooks, not for SQL from others.
    """
    import dlt

    from pipelines.query.engine import DESTINATIONS, resolve_duckdb_path

    if destination not in DESTINATIONS:
        raise ValueError(f"Unknown destination {destination!r}; use one of {DESTINATIONS}.")
    target: Any = destination
    if destination == "duckdb":
        target = dlt.destinations.duckdb(credentials=resolve_duckdb_path(duckdb_path))
    return dlt.dataset(target, dataset_name)
