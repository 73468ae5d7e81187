"""Shared fixtures: emulators on free loopback ports, the secret witness, and fault workspaces.

Helpers live in plain modules: tests/secrets.py, tests/warehouse.py, tests/load/helpers.py and
tests/load/scenarios.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator, SeedConfig
from tests.dlt_project import DltProject, reload_dlt_providers
from tests.load.helpers import Warehouse, make_warehouse
from tests.load.scenarios import Workspace, running_emulator
from tests.secrets import SecretWitness

SMALL_SEED: dict[str, Any] = {
    "seed": 7,
    "contacts": 60,
    "accounts": 12,
    "forms": 6,
    "segments": 5,
    "responses": 400,
    "days": 30,
}
_EMULATOR_OPTIONS = ("api_keys", "fault_seed", "page_cache_bytes", "project_name")

MakeEmulator = Callable[..., Emulator]


@pytest.fixture(scope="session", autouse=True)
def _private_dbt_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Give each test process its own dbt target and log folders.

    Test workers run `dbt build` at the same time; sharing dbt_project/target would let one
    worker's partial-parse file and manifest overwrite another's mid-build. Subprocesses
    (`refiner transform`, `refiner demo`) inherit the variables.
    """
    target = tmp_path_factory.mktemp("dbt-target")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_TARGET_PATH", str(target))
        patch.setenv("DBT_LOG_PATH", str(target / "logs"))
        yield


@pytest.fixture
def make_emulator() -> Iterator[MakeEmulator]:
    """Factory: `make_emulator(**seed_kwargs)` starts an emulator; all are stopped afterwards.

    Keyword arguments are SeedConfig fields over a small default seed (60 contacts, 400
    responses, 30 days), plus the Emulator options api_keys, fault_seed, page_cache_bytes and
    project_name.
    """
    started: list[Emulator] = []

    def factory(**kwargs: Any) -> Emulator:
        options = {name: kwargs.pop(name) for name in _EMULATOR_OPTIONS if name in kwargs}
        emulator = Emulator(SeedConfig(**{**SMALL_SEED, **kwargs}), **options).start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: MakeEmulator) -> Emulator:
    """A started emulator with the small default seed and the default API key."""
    return make_emulator()


@pytest.fixture
def emulator_sentinel() -> Iterator[Emulator]:
    """The default small emulator of the fault matrix, keyed by the sentinel key."""
    with running_emulator() as emulator:
        yield emulator


@pytest.fixture
def witness() -> Iterator[SecretWitness]:
    """A secret witness that checks itself when the test ends (also when the test failed)."""
    seen = SecretWitness()
    yield seen
    seen.assert_clean()


@pytest.fixture(params=[pytest.param("duckdb", id="duckdb")])
def scenario_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty DuckDB warehouse; parametrize it with WAREHOUSE_KINDS (indirect) for both.

    The file is not called refiner.duckdb: a DuckDB catalog named like the dataset makes
    `refiner.<table>` ambiguous (see the report on the load's default path).
    """
    with make_warehouse(request.param, tmp_path, "warehouse.duckdb") as made:
        yield made
        made.close()


@pytest.fixture
def workspace(
    tmp_path: Path,
    emulator_sentinel: Emulator,
    scenario_warehouse: Warehouse,
    witness: SecretWitness,
) -> Iterator[Workspace]:
    """A workspace whose every file is scanned for secrets when the test ends."""
    space = Workspace(tmp_path, emulator_sentinel, scenario_warehouse, witness)
    yield space
    witness.folder(tmp_path)


@pytest.fixture
def dlt_project(tmp_path: Path) -> Iterator[DltProject]:
    """An empty dlt project (tmp_path/.dlt) that dlt's providers read; every SOURCES__REFINER__*,
    WAREHOUSE__* and DIGEST__* variable is removed for the test and restored after it."""
    saved = {name: os.environ.pop(name) for name in list(os.environ) if _project_variable(name)}
    (tmp_path / ".dlt").mkdir()
    os.environ["DLT_PROJECT_DIR"] = str(tmp_path)
    reload_dlt_providers()
    try:
        yield DltProject(tmp_path)
    finally:
        for name in list(os.environ):
            if _project_variable(name):
                del os.environ[name]
        os.environ.update(saved)
        reload_dlt_providers()


def _project_variable(name: str) -> bool:
    return name.startswith(("SOURCES__REFINER__", "WAREHOUSE__", "DIGEST__")) or (
        name == "DLT_PROJECT_DIR"
    )
