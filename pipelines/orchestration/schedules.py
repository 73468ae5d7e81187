"""Jobs and schedules: refiner_incremental, refiner_reconcile and refiner_daily_digest.

Both warehouse jobs carry the `refiner/warehouse` tag. A deployment limits that tag to one
run at a time (`refiner orchestrate` writes that limit into its dagster.yaml); without it,
their schedules still skip a tick while a tagged run is queued or running, and a run that
reaches the pipeline lock anyway skips its load (see `load_assets`).
"""

from typing import Any

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from pipelines.orchestration.keys import (
    DAILY_DIGEST,
    LOAD_GROUP,
    PUSH_TRAITS,
    RUN_TAG,
    TRANSFORM_GROUP,
)
from pipelines.orchestration.load_assets import LOAD_OP
from pipelines.orchestration.settings import Cron

INCREMENTAL_JOB = "refiner_incremental"
RECONCILE_JOB = "refiner_reconcile"
DIGEST_JOB = "refiner_daily_digest"
WAREHOUSE_RUN_TAGS = {RUN_TAG: "load"}
_IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def refiner_jobs() -> list[Any]:
    """refiner_incremental (load, dbt, push_traits), refiner_reconcile (load with --reconcile,
    then dbt) and refiner_daily_digest (daily_digest, which only reads the warehouse)."""
    loaded_and_modelled = AssetSelection.groups(LOAD_GROUP, TRANSFORM_GROUP)
    return [
        define_asset_job(
            INCREMENTAL_JOB,
            selection=loaded_and_modelled | AssetSelection.assets(PUSH_TRAITS),
            tags=WAREHOUSE_RUN_TAGS,
            description="Incremental load, dbt build, push of changed contact traits.",
        ),
        define_asset_job(
            RECONCILE_JOB,
            selection=loaded_and_modelled,
            tags=WAREHOUSE_RUN_TAGS,
            config={"ops": {LOAD_OP: {"config": {"reconcile": True}}}},
            description="`refiner load --reconcile` (deletes what Refiner no longer has), dbt.",
        ),
        define_asset_job(
            DIGEST_JOB,
            selection=AssetSelection.assets(DAILY_DIGEST),
            description="Yesterday's digest from the marts, to [digest] targets (default: files).",
        ),
    ]


def job_schedule(name: str, job_name: str, cron: Cron, *, exclusive: bool) -> ScheduleDefinition:
    """A running schedule of `job_name` on `cron`. One run request per tick, keyed by its time;
    an `exclusive` schedule skips its tick while a warehouse run is queued or running."""

    @schedule(
        name=name,
        job_name=job_name,
        cron_schedule=cron.cron,
        execution_timezone=cron.timezone,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def tick(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        if exclusive:
            busy = context.instance.get_run_records(
                RunsFilter(statuses=_IN_PROGRESS, tags=WAREHOUSE_RUN_TAGS), limit=1
            )
            if busy:
                run = busy[0].dagster_run
                return SkipReason(
                    f"run {run.run_id} of {run.job_name} is still writing the warehouse; "
                    "one load runs at a time (pipeline lock), so this tick is skipped"
                )
        return RunRequest(run_key=f"{name}:{context.scheduled_execution_time.isoformat()}")

    return tick
