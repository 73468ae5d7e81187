"""`defs`: refiner-dlt's assets, resources, jobs and schedules, for `dagster dev -m` and
`dagster-webserver`/`dagster-daemon` deployments (`refiner orchestrate` runs the first).

Settings come from dlt's configuration when this module is imported (see `settings`).
"""

from __future__ import annotations

from dagster import DagsterInvalidDefinitionError, Definitions, ScheduleDefinition

from pipelines.errors import ConfigError
from pipelines.orchestration.digest_assets import build_digest_assets
from pipelines.orchestration.load_assets import build_load_assets
from pipelines.orchestration.schedules import (
    DIGEST_JOB,
    INCREMENTAL_JOB,
    RECONCILE_JOB,
    job_schedule,
    refiner_jobs,
)
from pipelines.orchestration.settings import Cron, OrchestrationSettings, resolve_settings
from pipelines.orchestration.sync_assets import build_sync_assets
from pipelines.orchestration.transform_assets import (
    build_transform_assets,
    dbt_project,
    dbt_resource,
    webhook_table_specs,
)


def build_definitions(settings: OrchestrationSettings | None = None) -> Definitions:
    """Definitions for `settings` (default: read from dlt's configuration now)."""
    settings = settings or resolve_settings()
    project = dbt_project()
    return Definitions(
        assets=[
            build_load_assets(settings.warehouse),
            build_transform_assets(settings.warehouse, project),
            build_sync_assets(settings.warehouse),
            build_digest_assets(settings),
            *webhook_table_specs(project),
        ],
        resources={"dbt": dbt_resource(project)},
        jobs=refiner_jobs(),
        schedules=[
            _schedule("refiner_incremental_schedule", INCREMENTAL_JOB, settings.incremental,
                      "orchestration.incremental_cron"),
            _schedule("refiner_reconcile_schedule", RECONCILE_JOB, settings.reconcile,
                      "orchestration.reconcile_cron"),
            _schedule("refiner_daily_digest_schedule", DIGEST_JOB, settings.digest,
                      "orchestration.digest_cron", exclusive=False),
        ],
    )  # fmt: skip


def _schedule(
    name: str, job_name: str, cron: Cron, key: str, *, exclusive: bool = True
) -> ScheduleDefinition:
    try:
        return job_schedule(name, job_name, cron, exclusive=exclusive)
    except DagsterInvalidDefinitionError:
        raise ConfigError(f"{key} {cron.cron!r} is not a valid cron line") from None


defs = build_definitions()
