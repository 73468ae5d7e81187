"""Defaults: the names shared by load, transform, reverse sync and the demo, and the dlt settings
the project relies on (DLT_DEFAULTS).

The loaded tables live in `refiner_raw`, not `refiner`: DuckDB names a database's catalog
after its file, so `refiner.duckdb` holding a schema `refiner` would make every two-part name
such as `refiner.responses` ambiguous. dbt writes its models to a schema of their own.
"""

from __future__ import annotations

from typing import Any, Final

DEFAULT_DUCKDB_PATH: Final = "refiner.duckdb"
DEFAULT_DATASET: Final = "refiner_raw"
DEFAULT_ANALYTICS_SCHEMA: Final = "refiner_analytics"

DLT_DEFAULTS: Final[dict[str, Any]] = {
    "runtime": {"log_level": "WARNING", "dlthub_telemetry": False},
    "normalize": {
        "workers": 1,
        # Arrow tables get `_dlt_load_id` while extracting (the warehouse contract). No
        # `_dlt_id`: every table has a primary key, and a random row id would make the
        # normalize step rewrite every parquet file instead of moving it into the package.
        "parquet_normalizer": {"add_dlt_load_id": True, "add_dlt_id": False},
    },
    "load": {
        "workers": 4,
        # Empty the staging tables once their rows are merged, so the warehouse keeps no
        # second copy of the last load (and DuckDB does not write one at its checkpoint).
        "truncate_staging_dataset": True,
    },
}
"""dlt settings the project relies on, whatever folder it runs from. They are dlt's lowest
precedence (pipelines/load/dlt_compat.py registers them as a config provider of their own
before any pipeline is made), so `.dlt/config.toml`, environment variables and flags still
override each of them."""
