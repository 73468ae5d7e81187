"""Placeholder until `refiner tools` is implemented."""

import typer

app = typer.Typer(help="Call one Refiner API operation and print its JSON result.")
