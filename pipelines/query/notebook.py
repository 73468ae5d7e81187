"""The notebook API: `query()` returns a pandas DataFrame, `dataset()` dlt's dataset.

Both read the warehouse the way `refiner sql` does: the destination and dataset given, else
`[warehouse]` (`pipelines.config.resolve_warehouse`); DuckDB at `duckdb_path`, else dlt's
`destination.duckdb.credentials`, else ./refiner.duckdb; PostgreSQL from dlt's
`destination.postgres.credentials`. pandas is imported on the first call, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.config import resolve_warehouse

if TYPE_CHECKING:
    import pandas as pd


def query(
    sql: str,
    *,
    destination: str | None = None,
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

    warehouse = resolve_warehouse(destination, duckdb_path=duckdb_path)
    batches = list(
        stream_query(
            sql,
            destination=warehouse.destination,
            duckdb_path=str(warehouse.duckdb_path),
            timeout_s=timeout_s,
        )
    )
    return pa.Table.from_batches(batches).to_pandas()


def dataset(
    *,
    destination: str | None = None,
    duckdb_path: str | None = None,
    dataset_name: str | None = None,
) -> Any:
    """dlt's dataset of the tables `refiner load` wrote (`[warehouse] dataset`, else refiner_raw):
    `ds.responses.df()`, `ds.responses.arrow()`, `ds("select …").df()`.

    Unlike `query()`, this is dlt's own read access, without the sandbox: use it for your own
    notebooks, not for SQL from others.
    """
    import dlt

    warehouse = resolve_warehouse(destination, dataset_name, duckdb_path=duckdb_path)
    target: Any = warehouse.destination
    if warehouse.destination == "duckdb":
        target = dlt.destinations.duckdb(credentials=str(warehouse.duckdb_path))
    return dlt.dataset(target, warehouse.dataset)
