"""The transform: `dbt build` of dbt_project/ as `@dbt_assets`, with a `DbtCliResource`.

dbt runs as `refiner transform` runs it (see `pipelines.transform.dbt_invocation`): the
committed dbt_project/profiles.yml, `--target` the destination, `--vars` the load's
`include`, and the REFINER_* variables pointing the profile at the warehouse the load wrote.
The translator maps each dbt source `refiner.<table>` to the load asset of that table, so the
graph reads raw table -> staging -> marts. dbt's tests are the models' asset checks.

On DuckDB the build holds the file's writer lock, as `refiner transform` does, so it waits
for a load or an event flush instead of failing. A failed build fails the step with
`refiner transform`'s message; a DuckDB file held by a reader is retried (see `failures`).
"""

import fcntl
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, Failure
from dagster_dbt import (
    DagsterDbtTranslator,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from pipelines.config import WarehouseSettings
from pipelines.orchestration.failures import RETRY_POLICY, is_busy_duckdb, step_failure
from pipelines.orchestration.keys import (
    EVENTS_GROUP,
    SOURCE_NAME,
    TRANSFORM_GROUP,
    loaded_tables,
    raw_table_key,
)
from pipelines.transform import DBT_PROJECT_DIR, NodeOutcome, dbt_invocation, summarise

TRANSFORM_OP = "refiner_transform"


class RefinerDbtTranslator(DagsterDbtTranslator):
    """dbt source `refiner.<table>` -> the load asset `refiner/<table>`; models in one group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        props = dbt_resource_props
        if props["resource_type"] == "source" and props["source_name"] == SOURCE_NAME:
            return raw_table_key(props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return TRANSFORM_GROUP


def dbt_project() -> DbtProject:
    """The project with its committed profiles. Its manifest is parsed when missing or older
    than the project, and on every `dagster dev` start; artifacts go to DBT_TARGET_PATH when
    set, as for the CLI. Processes that load the definitions at once parse one at a time (a
    lock beside the manifest), and a process that waited reads the manifest the other wrote."""
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target_path=Path(os.environ.get("DBT_TARGET_PATH") or "target"),
    )
    if not (project.preparer.using_dagster_dev() or _manifest_is_stale(project)):
        return project
    lock_path = project.manifest_path.with_name("refiner-parse.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if project.preparer.using_dagster_dev() or _manifest_is_stale(project):
            # dagster-dbt's own preparer would look for `dbt` on PATH only.
            dbt_resource(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def _manifest_is_stale(project: DbtProject) -> bool:
    """True when the manifest is missing or older than a file of the project it describes."""
    if not project.manifest_path.exists():
        return True
    parsed = project.manifest_path.stat().st_mtime
    sources = ("dbt_project.yml", "models", "macros", "tests")
    for name in sources:
        path = project.project_dir / name
        files = [path] if path.is_file() else path.rglob("*")
        if any(file.stat().st_mtime > parsed for file in files if file.is_file()):
            return True
    return False


def webhook_table_specs(project: DbtProject) -> list[AssetSpec]:
    """The dbt sources no load asset writes (the webhook tables of `refiner listen`), as
    external assets in their own group, so the graph says where they come from."""
    manifest = json.loads(project.manifest_path.read_text())
    loaded = set(loaded_tables())
    return [
        AssetSpec(
            key=raw_table_key(source["name"]),
            group_name=EVENTS_GROUP,
            description=f"Table {source['name']}, written by `refiner listen` (webhooks).",
        )
        for source in manifest.get("sources", {}).values()
        if source["source_name"] == SOURCE_NAME and source["name"] not in loaded
    ]


def dbt_resource(project: DbtProject) -> DbtCliResource:
    """The dbt CLI beside this interpreter (the extra installs it), else `dbt` on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=project, dbt_executable=str(beside) if beside.exists() else "dbt"
    )


def build_transform_assets(warehouse: WarehouseSettings, project: DbtProject) -> AssetsDefinition:
    """The dbt models of `project`, built against `warehouse`."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name=TRANSFORM_OP,
        dagster_dbt_translator=RefinerDbtTranslator(),
        retry_policy=RETRY_POLICY,
    )
    def refiner_transform(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        try:
            invocation = dbt_invocation(
                warehouse.destination,
                warehouse.duckdb_path,
                warehouse.dataset,
                analytics_schema=warehouse.analytics_schema,
            )
        except Exception as error:
            raise step_failure(error) from error
        with invocation.writer_turn():
            with invocation.applied():
                build = dbt.cli(
                    ["build", *invocation.args()], context=context, raise_on_error=False
                )
            yield from build.stream()
        if not build.is_successful():
            raise build_failure(build, warehouse)

    return refiner_transform


def build_failure(build: DbtCliInvocation, warehouse: WarehouseSettings) -> Failure:
    """`refiner transform`'s message for a failed build, from dbt's run_results.json."""
    try:
        run_results = build.get_artifact("run_results.json")
    except FileNotFoundError:
        return Failure(description="dbt build could not run; see the step's dbt log")
    nodes = [_node_outcome(result, build.manifest) for result in run_results.get("results", [])]
    elapsed = float(run_results.get("elapsed_time") or 0.0)
    result = summarise(nodes, warehouse.destination, warehouse.analytics_schema, elapsed)
    message = result.failure_message()
    return Failure(description=message, allow_retries=is_busy_duckdb(message))


def _node_outcome(result: Mapping[str, Any], manifest: Mapping[str, Any]) -> NodeOutcome:
    unique_id = str(result.get("unique_id", ""))
    node = (
        manifest.get("nodes", {}).get(unique_id)
        or manifest.get("unit_tests", {}).get(unique_id)
        or {}
    )
    return NodeOutcome(
        status=str(result.get("status", "")),
        name=str(node.get("name") or unique_id.rsplit(".", 1)[-1]),
        resource_type=str(node.get("resource_type") or unique_id.split(".", 1)[0]),
        message=result.get("message"),
    )
