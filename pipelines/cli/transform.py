"""`refiner transform`: `dbt build` on the warehouse that `refiner load` wrote.

dbt's output is coloured only on a terminal without NO_COLOR (pipelines/transform.py).
Exit codes: 0 when every model and test passed, 1 when dbt failed, 2 for bad options.
"""

from __future__ import annotations

import typer
from rich.console import Console

from pipelines.cli.sync import _DESTINATION, _DUCKDB_PATH
from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET


def transform_command(
    destination: str = _DESTINATION,
    duckdb_path: str = _DUCKDB_PATH,
    dataset: str = typer.Option(
        DEFAULT_DATASET, "--dataset", help="Dataset (schema) `load` wrote."
    ),
    analytics_schema: str = typer.Option(
        DEFAULT_ANALYTICS_SCHEMA, "--analytics-schema", help="Schema the models are built in."
    ),
    responses_include: str | None = typer.Option(
        None,
        "--responses-include",
        help="The load's include (completed, partials, all); default sources.refiner.include.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Print only errors and the summary."),
) -> None:
    """Run `dbt build` (models, tests, unit tests) on the warehouse that `load` wrote."""
    from pipelines.transform import run_transform

    result = run_transform(
        destination,
        duckdb_path,
        dataset,
        analytics_schema=analytics_schema,
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
