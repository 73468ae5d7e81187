"""`refiner transform`: `dbt build` on the warehouse that `refiner load` wrote.

dbt's output is coloured only on a terminal without NO_COLOR (pipelines/transform.py).
Exit codes: 0 when every model and test passed, 1 when dbt failed, 2 for bad options.
"""

from __future__ import annotations

import typer
from rich.console import Console

from pipelines.cli.options import ANALYTICS_SCHEMA, DATASET, DESTINATION, DUCKDB_PATH


def transform_command(
    destination: str | None = DESTINATION,
    duckdb_path: str | None = DUCKDB_PATH,
    dataset: str | None = DATASET,
    analytics_schema: str | None = ANALYTICS_SCHEMA,
    responses_include: str | None = typer.Option(
        None,
        "--responses-include",
        help="The load's include (completed, partials, all); default sources.refiner.include.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Print only errors and the summary."),
) -> None:
    """Run `dbt build` (models, tests, unit tests) on the warehouse that `load` wrote."""
    from pipelines.config import resolve_warehouse
    from pipelines.transform import run_transform

    warehouse = resolve_warehouse(destination, dataset, analytics_schema, duckdb_path)
    result = run_transform(
        warehouse.destination,
        warehouse.duckdb_path,
        warehouse.dataset,
        analytics_schema=warehouse.analytics_schema,
        responses_include=responses_include,
        quiet=quiet,
    )
    console = Console(highlight=False, soft_wrap=True)
    console.print(result.summary(), markup=False)
    for warning in result.warnings:
        console.print(f"Warning: {warning}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `refiner transform` to the root app."""
    app.command("transform")(transform_command)
