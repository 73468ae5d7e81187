"""pipelines/load/dlt_compat.py against the installed dlt: every private name it uses exists
and still behaves as it relies on. A dlt upgrade that breaks one fails here, by name."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import dlt
import pytest

from pipelines.load import dlt_compat


def _resolve(dotted: str) -> object:
    """The object at `dotted` (module path, then attributes)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def test_installed_dlt_is_a_verified_version() -> None:
    assert dlt.__version__ in dlt_compat.VERIFIED_DLT_VERSIONS, (
        f"dlt {dlt.__version__} is not among the versions pipelines/load/dlt_compat.py was "
        f"verified on ({', '.join(dlt_compat.VERIFIED_DLT_VERSIONS)}): run this module's tests, "
        "check each name in PRIVATE_NAMES, then add the version"
    )


@pytest.mark.parametrize("name", dlt_compat.PRIVATE_NAMES)
def test_private_name_exists(name: str) -> None:
    try:
        _resolve(name)
    except (ImportError, AttributeError) as missing:
        pytest.fail(
            f"dlt {dlt.__version__} has no {name} ({missing}); pipelines/load/dlt_compat.py "
            "must be adapted to it"
        )


def test_committed_extracted_package_is_dropped(tmp_path: Path) -> None:
    """A package both extracted and committed to load storage (a run killed between dlt's
    rename and its delete) loses its extracted copy; nothing else is touched."""
    pipeline = dlt.pipeline(
        pipeline_name="compat", destination="duckdb", pipelines_dir=str(tmp_path / "pipelines")
    )
    pipeline.extract(dlt.resource([{"id": 1}, {"id": 2}], name="items"))
    (load_id,) = pipeline.list_extracted_load_packages()
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted" / load_id
    kept = tmp_path / "kept"
    shutil.copytree(extracted, kept)
    pipeline.normalize()
    assert pipeline.list_normalized_load_packages() == [load_id]
    shutil.copytree(kept, extracted)
    assert pipeline.list_extracted_load_packages() == [load_id]

    dlt_compat.drop_committed_extracted_packages(pipeline)

    assert pipeline.list_extracted_load_packages() == []
    assert pipeline.list_normalized_load_packages() == [load_id]
    dlt_compat.drop_committed_extracted_packages(pipeline)  # nothing left: a no-op
    assert pipeline.list_normalized_load_packages() == [load_id]


def test_extracted_package_not_yet_committed_is_kept(tmp_path: Path) -> None:
    pipeline = dlt.pipeline(
        pipeline_name="compat_pending",
        destination="duckdb",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.extract(dlt.resource([{"id": 1}], name="items"))
    pending = list(pipeline.list_extracted_load_packages())

    dlt_compat.drop_committed_extracted_packages(pipeline)

    assert pipeline.list_extracted_load_packages() == pending


def test_project_defaults_are_the_lowest_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    dlt_compat.use_project_defaults()
    dlt_compat.use_project_defaults()  # once only
    names = [provider.name for provider in dlt.config.config_providers]
    assert names.count(dlt_compat.PROVIDER_NAME) == 1
    assert names.index(dlt_compat.PROVIDER_NAME) > names.index("config.toml")
    assert dlt.config.get("load.truncate_staging_dataset", bool) is True
    assert dlt.config.get("normalize.parquet_normalizer.add_dlt_id", bool) is False
    monkeypatch.setenv("LOAD__WORKERS", "7")
    assert dlt.config.get("load.workers", int) == 7


def test_runtime_is_set_up_again_from_the_project_defaults() -> None:
    """After registering, dlt's runtime (telemetry, log level) comes from every provider: the
    anonymous tracker that dlt started from the earlier providers is stopped."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
    from dlt.common.runtime import anon_tracker

    dlt_compat.use_project_defaults()
    runtime = Container()[PluggableRunContext].context.runtime_config
    assert runtime.dlthub_telemetry is False
    assert runtime.log_level == "WARNING"
    assert anon_tracker._ANON_TRACKER_ENDPOINT is None
