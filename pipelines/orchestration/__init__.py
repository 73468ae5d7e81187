"""Dagster definitions for refiner-dlt (the optional `refiner-dlt[dagster]` extra).

`definitions.defs` holds one asset per warehouse table (written by `run_load`), the dbt models
(`dbt build` with the committed profiles), `push_traits`, and the jobs and schedules that run
them. Everything here imports dagster; only `refiner orchestrate` imports this package.
"""
