"""Default names shared by load, transform, reverse sync and the demo.

The loaded tables live in `refiner_raw`, not `refiner`: DuckDB names a database's catalog
after its file, so `refiner.duckdb` holding a schema `refiner` would make every two-part name
such as `refiner.responses` ambiguous. dbt writes its models to a schema of their own.
"""

from __future__ import annotations

from typing import Final

DEFAULT_DUCKDB_PATH: Final = "refiner.duckdb"
DEFAULT_DATASET: Final = "refiner_raw"
DEFAULT_ANALYTICS_SCHEMA: Final = "refiner_analytics"
