"""The warehouse options every command shares. Each defaults to None, which means the value
that `pipelines.config.resolve_warehouse` finds in `[warehouse]` (or the DuckDB file in
DESTINATION__DUCKDB__CREDENTIALS), so the CLI and the Dagster runs read one setting."""

from __future__ import annotations

import typer

DESTINATION = typer.Option(
    None,
    "--destination",
    help="Warehouse: duckdb or postgres, credentials via dlt (default: [warehouse] destination, "
    "else duckdb).",
    show_default=False,
)
DUCKDB_PATH = typer.Option(
    None,
    "--duckdb-path",
    help="DuckDB file (default: DESTINATION__DUCKDB__CREDENTIALS, else ./refiner.duckdb).",
    show_default=False,
)
DATASET = typer.Option(
    None,
    "--dataset",
    help="Dataset (schema) `load` writes (default: [warehouse] dataset, else refiner_raw).",
    show_default=False,
)
ANALYTICS_SCHEMA = typer.Option(
    None,
    "--analytics-schema",
    help="Schema of the dbt models (default: [warehouse] analytics_schema, else "
    "refiner_analytics).",
    show_default=False,
)
