"""`refiner load` as a user runs it: a fresh process, default paths, a slow machine.

- A fresh process must not fail because a worker thread is still importing a library the
  main thread inspects. The race is made deterministic by slowing pandas' import (as a cold
  disk cache would); a correct load is indifferent to how long an import takes.
- The documented default target, `./refiner.duckdb` with dataset `refiner`, must load.
"""

from __future__ import annotations

from pathlib import Path

from emulator import Emulator
from tests.load.helpers import REPO, Warehouse, load_env, run_refiner_process

SLOW_PANDAS_IMPORT = """
import importlib.abc
import importlib.machinery
import sys
import time


class SlowPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "pandas":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            time.sleep(1.5)
            run(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, SlowPandas())
"""


def test_first_load_in_a_fresh_process_survives_a_slow_import(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SLOW_PANDAS_IMPORT)
    warehouse = Warehouse("duckdb", str(tmp_path / "warehouse.duckdb"))
    env = load_env(load_emulator, warehouse, tmp_path / "pipelines")
    env["PYTHONPATH"] = f"{hooks}:{REPO}"

    run = run_refiner_process(
        [
            "load",
            *warehouse.cli_args(),
            "--pipelines-dir",
            str(tmp_path / "p"),
        ],
        env,
    )

    assert run.code == 0, run.output
    assert warehouse.count("responses") > 0
    warehouse.close()


def test_load_with_the_default_duckdb_path_and_dataset(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    env = load_env(load_emulator, Warehouse("duckdb", ""), tmp_path / "pipelines")
    del env["DESTINATION__DUCKDB__CREDENTIALS"]

    run = run_refiner_process(
        ["load", "--resources", "forms,segments", "--pipelines-dir", str(tmp_path / "p")],
        env,
        cwd=tmp_path,
    )

    assert run.code == 0, run.output
    warehouse = Warehouse("duckdb", str(tmp_path / "refiner.duckdb"))
    assert warehouse.count("forms") == len(load_emulator.store.forms)
    warehouse.close()
