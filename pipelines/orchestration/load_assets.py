"""The load: one asset per warehouse table, all written by one `run_load` call.

Not `@dlt_assets`: dagster-dlt keys one asset per dlt resource (six), while the warehouse has
ten tables (contacts also write contact_attributes and contact_segments, and so on), and its
`DagsterDltResource.run` calls `pipeline.run` directly, skipping what `run_load` adds (the
pipeline lock, stale-child cleanup, reconcile deletions, unchanged-row fingerprints, the
memory release before the load step). So this is a `@multi_asset` over the same pipeline,
dataset and destination as `refiner load`: a Dagster run and a CLI run continue one
incremental state.

A run that finds the pipeline locked by another load (LoadInProgressError) materializes
nothing: the step succeeds with the reason in its log and in the run's `refiner/skipped` tag,
and the steps downstream are skipped.
"""

import json
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Config,
    MaterializeResult,
    multi_asset,
)

from pipelines.config import WarehouseSettings
from pipelines.errors import LoadInProgressError
from pipelines.load.run import LoadSummary, run_load
from pipelines.orchestration.failures import RETRY_POLICY, step_failure
from pipelines.orchestration.keys import LOAD_GROUP, loaded_tables, raw_table_key

LOAD_OP = "refiner_load"
LOAD_POOL = "refiner_load"
SKIPPED_TAG = "refiner/skipped"


class LoadConfig(Config):
    """Run config of the load step; the reconcile job sets `reconcile`."""

    reconcile: bool = False
    """Sweep all contacts and delete those gone from Refiner (`refiner load --reconcile`)."""


def build_load_assets(warehouse: WarehouseSettings) -> AssetsDefinition:
    """The `refiner_load` multi-asset for the warehouse's destination and dataset."""
    specs = [
        AssetSpec(
            key=raw_table_key(table),
            group_name=LOAD_GROUP,
            kinds={"dlt", warehouse.destination},
            description=f"Table {warehouse.dataset}.{table}, written by `refiner load`.",
            metadata={"dagster/table_name": f"{warehouse.dataset}.{table}"},
            skippable=True,
        )
        for table in loaded_tables()
    ]

    @multi_asset(
        name=LOAD_OP,
        specs=specs,
        can_subset=False,
        pool=LOAD_POOL,
        retry_policy=RETRY_POLICY,
    )
    def refiner_load(
        context: AssetExecutionContext, config: LoadConfig
    ) -> Iterator[MaterializeResult]:
        try:
            summary = run_load(
                destination=warehouse.destination,
                dataset=warehouse.dataset,
                reconcile=config.reconcile,
                duckdb_path=warehouse.duckdb_path,
            )
        except LoadInProgressError as busy:
            reason = f"load skipped: {busy}"
            context.log.warning(reason)
            context.instance.add_run_tags(context.run.run_id, {SKIPPED_TAG: reason})
            return
        except Exception as error:
            raise step_failure(error) from error
        for table in loaded_tables():
            yield MaterializeResult(
                asset_key=raw_table_key(table), metadata=load_metadata(summary, table)
            )

    return refiner_load


def load_metadata(summary: LoadSummary, table: str) -> dict[str, Any]:
    """The figures `refiner load` prints, for one table's materialization: rows written to and
    deleted from `table`, and the run's API requests, duration and cursor values."""
    return {
        "rows_loaded": summary.rows.get(table, 0),
        "rows_deleted": summary.deleted.get(table, 0),
        "api_requests": summary.requests,
        "duration_seconds": round(summary.duration_seconds, 2),
        "cursors": json.loads(json.dumps(summary.cursors, default=str)),
        "load_ids": ", ".join(summary.load_ids) or "none",
        "pipeline": summary.pipeline_name,
    }
