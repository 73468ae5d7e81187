"""`push_traits`: the reverse sync of `contact_traits`, as `refiner push-traits` runs it with
its defaults (only rows whose payload changed since Refiner last accepted it are sent)."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from pipelines.config import WarehouseSettings, make_client, resolve_api_settings
from pipelines.orchestration.failures import RETRY_POLICY, step_failure
from pipelines.orchestration.keys import CONTACT_TRAITS, PUSH_TRAITS, SYNC_GROUP
from pipelines.sync.input import SyncInput
from pipelines.sync.runs import TraitOptions, WarehouseTarget, execute, prepare_traits
from pipelines.sync.send import SyncReport


def build_sync_assets(warehouse: WarehouseSettings) -> AssetsDefinition:
    """The `push_traits` asset, downstream of the `contact_traits` model."""

    @asset(
        key=PUSH_TRAITS,
        deps=[CONTACT_TRAITS],
        group_name=SYNC_GROUP,
        kinds={"refiner"},
        retry_policy=RETRY_POLICY,
        description="contact_traits rows pushed to Refiner (identify-user), changed rows only.",
    )
    def push_traits(context: AssetExecutionContext) -> MaterializeResult:
        try:
            report = _push(context, warehouse)
        except Exception as error:
            raise step_failure(error) from error
        return MaterializeResult(
            metadata={
                "sent": report.sent,
                "succeeded": report.succeeded,
                "unchanged": report.unchanged,
                "skipped": report.skipped,
                "failed": report.failed,
                "sync_run_id": report.run_id,
            }
        )

    return push_traits


def _push(context: AssetExecutionContext, warehouse: WarehouseSettings) -> SyncReport:
    target = WarehouseTarget.of(warehouse)
    plan = prepare_traits(target, SyncInput(), TraitOptions())
    for warning in plan.warnings:
        context.log.warning(warning)
    api = resolve_api_settings()
    with make_client(api) as client:
        report = execute(target, plan, client, secrets=(api.api_key,))
    report.raise_for_failures("refiner_sync_log")
    return report
