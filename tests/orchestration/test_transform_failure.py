"""A failing dbt test fails the transform step with `refiner transform`'s message, unretried,
and push_traits does not run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

pytest.importorskip("dagster", reason="needs the dagster extra: pip install 'refiner-dlt[dagster]'")

from dagster import AssetKey, DagsterInstance

from emulator import Emulator
from pipelines.orchestration.definitions import build_definitions
from tests.cli_run import run_refiner
from tests.conftest import MakeEmulator
from tests.orchestration.helpers import SEED, cli_load, configure

pytestmark = pytest.mark.slow


def test_a_failed_dbt_test_fails_the_step_with_the_cli_message(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: Emulator = make_emulator(**SEED)
    setup = configure(monkeypatch, tmp_path, emulator)
    cli_load()
    with duckdb.connect(str(setup.duckdb_path)) as connection:
        # A second row for one form: stg_refiner__forms' unique test on form_uuid fails.
        connection.execute("INSERT INTO refiner_raw.forms SELECT * FROM refiner_raw.forms LIMIT 1")
    run = run_refiner("transform", "--duckdb-path", str(setup.duckdb_path), "--quiet")
    assert run.code == 1
    cli_message = run.stderr.strip().removeprefix("Error: ")
    assert cli_message.startswith("dbt build failed on duckdb: ")
    assert "unique_stg_refiner__forms_form_uuid" in cli_message

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("refiner_incremental")
    models = [
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name in ("refiner_transform", "refiner_sync")
    ]
    result = job.execute_in_process(
        instance=DagsterInstance.ephemeral(), asset_selection=models, raise_on_error=False
    )

    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [event.step_key for event in failures] == ["refiner_transform"]
    description = failures[0].step_failure_data.user_failure_data.description
    assert description == cli_message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert AssetKey("push_traits") not in {
        e.asset_key for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert not any(entry.path == "/identify-user" for entry in emulator.request_log)
