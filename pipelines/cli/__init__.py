"""The `refiner` console script: the typer app, one module per command group."""

from pipelines.cli.app import app, main, run

__all__ = ["app", "main", "run"]
