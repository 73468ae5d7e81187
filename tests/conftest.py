"""Shared fixtures: a running emulator on a free loopback port, and a factory for custom ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator import Emulator, SeedConfig

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
