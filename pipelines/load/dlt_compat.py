"""Every use of dlt's private API, in one module: the only place that a dlt release can break.

Verified on dlt VERIFIED_DLT_VERSIONS. tests/load/test_dlt_compat.py exercises each name used
here (PRIVATE_NAMES), so an upgrade that removes or changes one fails a test that names it,
not a load.

- `drop_committed_extracted_packages`: the pipeline's own normalize and load storages
  (`Pipeline._get_normalize_storage`, `Pipeline._get_load_storage`), to repair what a run killed
  while dlt committed a package leaves behind.
- `use_project_defaults`: registers DLT_DEFAULTS (pipelines/defaults.py) as the lowest config
  provider with dlt's public `dlt.config.register_provider`; then, because registering makes dlt
  set up its runtime (logging, telemetry) from the providers it had before, sets it up again
  from all of them, which needs the run context in dlt's container and `stop_telemetry`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from pipelines.defaults import DLT_DEFAULTS

if TYPE_CHECKING:
    from dlt import Pipeline

logger = logging.getLogger(__name__)

VERIFIED_DLT_VERSIONS: Final = ("1.31.0",)
PROVIDER_NAME: Final = "refiner-dlt defaults"
PRIVATE_NAMES: Final = (
    "dlt.Pipeline._get_normalize_storage",
    "dlt.Pipeline._get_load_storage",
    "dlt.common.configuration.container.Container",
    "dlt.common.configuration.specs.pluggable_run_context.PluggableRunContext",
    "dlt.common.runtime.telemetry.stop_telemetry",
)
"""What this module reaches into; tests/load/test_dlt_compat.py checks each of them."""


def use_project_defaults() -> None:
    """Make DLT_DEFAULTS dlt's lowest-precedence settings in this process (once).

    Call it before a pipeline is made: `truncate_staging_dataset`, the worker counts, the
    normalizer flags, the log level and telemetry then hold from any working folder, and the
    user's `.dlt/` files, environment and flags still override each of them."""
    import dlt
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.providers import CustomLoaderDocProvider
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
    from dlt.common.runtime.telemetry import stop_telemetry

    if any(provider.name == PROVIDER_NAME for provider in dlt.config.config_providers):
        return
    dlt.config.register_provider(
        CustomLoaderDocProvider(PROVIDER_NAME, _defaults, supports_secrets=False)
    )
    # The runtime was set up from the providers before this one (telemetry on by default):
    # set it up again so that the log level and telemetry come from all of them.
    stop_telemetry()
    run_context = Container()[PluggableRunContext]
    run_context.context.reset_config()
    run_context.initialize_runtime()


def _defaults() -> dict[str, object]:
    import copy

    return copy.deepcopy(DLT_DEFAULTS)


def drop_committed_extracted_packages(pipeline: Pipeline) -> None:
    """Delete extracted packages that dlt already committed to its load storage.

    dlt commits a normalized package by renaming load/new/<id> to load/normalized/<id> and only
    then deleting normalize/extracted/<id>. A run killed between the two leaves both; every
    later run would normalize the extracted copy again and fail renaming it onto the committed
    one ("Directory not empty"). The committed copy is complete, so the extracted one goes.
    load/new/<id> alone is not a commit: it is normalization in progress, which dlt redoes
    from the extracted copy."""
    # dlt's own storages, so the folder layout is dlt's, not guessed here.
    extracted = pipeline._get_normalize_storage().extracted_packages
    if not extracted.storage.has_folder("."):
        return
    load_storage = pipeline._get_load_storage()
    committed = (load_storage.normalized_packages, load_storage.loaded_packages)
    for load_id in extracted.list_packages():
        for packages in committed:
            if packages.storage.has_folder(packages.get_package_path(load_id)):
                logger.warning(
                    "load package %s is already in %s: deleting its extracted copy, left by a "
                    "run stopped while dlt committed it",
                    load_id,
                    packages.storage.storage_path,
                )
                extracted.delete_package(load_id)
                break
