"""`refiner orchestrate` without the dagster extra: one line saying how to install it, exit 2.
(Runs whether or not the extra is installed; its absence is simulated.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli_run import run_refiner


@pytest.mark.parametrize("module", ["dagster", "dagster_dbt", "dagster_webserver"])
def test_without_the_extra_orchestrate_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    # A None entry makes `import module` raise ImportError, as when it is not installed.
    monkeypatch.setitem(sys.modules, module, None)
    for args in (["orchestrate"], ["orchestrate", "--check"]):
        run = run_refiner(*args)
        assert run.code == 2
        assert run.stdout == ""
        assert run.error_lines == [
            "Error: refiner orchestrate needs Dagster, which is not installed: "
            "pip install 'refiner-dlt[dagster]'"
        ]


def test_the_cli_does_not_import_dagster_until_orchestrate_runs() -> None:
    probe = (
        "import sys; from pipelines.cli import app; "
        "print(sorted(m for m in sys.modules if m.startswith(('dagster', 'pipelines.orch'))))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[]"
