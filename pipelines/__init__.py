"""Compositions over the Refiner source: load, transform, reverse sync, and the `refiner` CLI."""
