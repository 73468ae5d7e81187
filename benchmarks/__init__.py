"""Reproducible benchmarks of refiner-dlt against physical limits and peer connectors.

`benchmarks/run` is the entry point; see `benchmarks/main.py` for what it measures.
"""
