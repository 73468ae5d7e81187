"""`daily_digest`: yesterday's digest (in `[digest] timezone`), after the marts it reads.

It runs `run_digest` as `refiner digest --yesterday --skip-empty` would, with the same
`[digest]` defaults, delivering to `[digest] targets` (unset: files in `[digest] output_dir`,
./digest). A day without responses sends nothing and says so in the materialization's metadata.
"""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from pipelines.digest import run_digest
from pipelines.orchestration.failures import RETRY_POLICY, step_failure
from pipelines.orchestration.keys import DAILY_DIGEST, DIGEST_GROUP
from pipelines.orchestration.settings import OrchestrationSettings

DIGEST_MARTS = ("fct_responses", "fct_answers", "dim_forms", "dim_contacts")
"""The marts `run_digest` reads."""


def build_digest_assets(settings: OrchestrationSettings) -> AssetsDefinition:
    """The `daily_digest` asset, downstream of DIGEST_MARTS."""
    warehouse = settings.warehouse

    @asset(
        key=DAILY_DIGEST,
        deps=[AssetKey(mart) for mart in DIGEST_MARTS],
        group_name=DIGEST_GROUP,
        kinds={"refiner"},
        retry_policy=RETRY_POLICY,
        description="Yesterday's NPS, CSAT, responses and top comments, delivered.",
    )
    def daily_digest(context: AssetExecutionContext) -> MaterializeResult:
        try:
            result = run_digest(
                timezone=settings.digest_defaults.timezone,
                to=settings.digest_targets,
                output_dir=settings.digest_defaults.output_dir,
                skip_empty=True,
                destination=warehouse.destination,
                duckdb_path=warehouse.duckdb_path,
                dataset=warehouse.dataset,
                analytics_schema=warehouse.analytics_schema,
            )
        except Exception as error:
            raise step_failure(error) from error
        if result.skipped:
            context.log.info(f"No responses in {result.digest.period.label}; nothing sent.")
        return MaterializeResult(
            metadata={
                "period": result.digest.period.label,
                "skipped_empty": result.skipped,
                "delivered": ", ".join(result.delivered) or "nothing",
                "files": ", ".join(str(path) for path in result.files) or "none",
            }
        )

    return daily_digest
