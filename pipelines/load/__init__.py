"""`refiner load`: Refiner into a warehouse through dlt, incremental and merge-keyed.

- `run.py`: `run_load` (one `refiner load`) and `LoadSummary`.
- `steps.py`: the dlt pipeline, its run lock, and one run of the source's steps.
- `backfill.py`: `--since`/`--until` in windows.
- `cleanup.py`: deletions after a load (stale child rows, contacts a sweep did not see).
- `destinations.py`: DuckDB and PostgreSQL specifics, the pipeline's identity.
- `dlt_compat.py`: the only module that touches dlt's private API.
"""
