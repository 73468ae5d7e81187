"""The load step against the emulator on DuckDB: it continues the CLI's incremental state
(and applies --reconcile in the reconcile job), in the dataset `[warehouse]` names for both,
skips when the pipeline lock is held, and fails with the CLI's message, without a retry, when
the key is refused or the warehouse is down."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

pytest.importorskip("dagster", reason="needs the dagster extra: pip install 'refiner-dlt[dagster]'")

from dagster import AssetKey, DagsterInstance

from emulator import Emulator
from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.keys import loaded_tables
from tests.cli_run import run_refiner
from tests.conftest import MakeEmulator
from tests.dlt_project import DltProject
from tests.orchestration.helpers import (
    SEED,
    cli_load,
    configure,
    events_of,
    execute_job,
    materializations,
    query,
    reads,
)
from tests.ports import free_port

pytestmark = pytest.mark.slow
SENTINEL_KEY = "sk-sentinel-orchestration-0123456789"


def test_cli_load_then_reconcile_run_continues_the_same_cursor(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: Emulator = make_emulator(**SEED)
    setup = configure(monkeypatch, tmp_path, emulator)
    cli_load()
    (before,) = query(setup.duckdb_path, "SELECT count(*) FROM refiner_raw.responses")[0]
    first_reads = reads(emulator)

    contacts = sorted(emulator.store.contacts)
    form = next(iter(emulator.store.forms.values()))
    question = form["config"]["form_elements"][0]["id"]
    added = emulator.store.add_response(
        form_uuid=form["uuid"], contact_uuid=contacts[0], data={question: 9}
    )
    gone = contacts[-1]
    emulator.store.delete_contact(gone)
    emulator.request_log.clear()

    job = build_definitions().resolve_job_def("refiner_reconcile")
    result = job.execute_in_process(
        instance=DagsterInstance.ephemeral(),
        asset_selection=[AssetKey(["refiner", table]) for table in loaded_tables()],
        raise_on_error=False,
    )
    assert result.success
    responses = materializations(result)["refiner/responses"]
    # One pipeline, one state: the CLI's lock file is the only one, named as the run's pipeline.
    locks = list(setup.pipelines_dir.glob("*.lock"))
    assert [lock.stem for lock in locks] == [responses["pipeline"]]
    assert responses["api_requests"] == reads(emulator) < first_reads + len(contacts)
    assert 1 <= responses["rows_loaded"] < before
    landed = query(setup.duckdb_path, "SELECT uuid FROM refiner_raw.responses")
    assert (added,) in landed
    # A bare incremental run would keep the deleted contact; reconcile removed it.
    assert materializations(result)["refiner/contacts"]["rows_deleted"] == 1
    assert not query(setup.duckdb_path, f"SELECT 1 FROM refiner_raw.contacts WHERE uuid = '{gone}'")


def test_cli_and_dagster_load_into_the_dataset_of_one_warehouse_setting(
    make_emulator: MakeEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dlt_project: DltProject,
) -> None:
    emulator: Emulator = make_emulator(**SEED)
    setup = configure(monkeypatch, tmp_path, emulator)
    dlt_project.write(config='[warehouse]\ndataset = "team_raw"\n')
    cli_load()
    (loaded,) = query(setup.duckdb_path, "SELECT count(*) FROM team_raw.responses")[0]
    emulator.request_log.clear()
    noop = run_refiner("load")
    assert noop.code == 0
    noop_reads = reads(emulator)
    emulator.request_log.clear()

    result = (
        build_definitions()
        .resolve_job_def("refiner_incremental")
        .execute_in_process(
            instance=DagsterInstance.ephemeral(),
            asset_selection=[AssetKey(["refiner", table]) for table in loaded_tables()],
            raise_on_error=False,
        )
    )

    assert result.success
    responses = materializations(result)["refiner/responses"]
    assert responses["rows_loaded"] == 0, "the run continued the CLI's cursor in team_raw"
    assert responses["api_requests"] == reads(emulator) == noop_reads
    assert [lock.stem for lock in setup.pipelines_dir.glob("*.lock")] == [responses["pipeline"]]
    found = query(setup.duckdb_path, "SELECT schema_name FROM duckdb_schemas()")
    schemas = {name for (name,) in found}
    assert "team_raw" in schemas and "refiner_raw" not in schemas
    assert query(setup.duckdb_path, "SELECT count(*) FROM team_raw.responses")[0] == (loaded,)
    assert "nothing new" in noop.stdout


def test_a_run_that_meets_the_pipeline_lock_is_skipped_not_failed(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: Emulator = make_emulator(**SEED)
    setup = configure(monkeypatch, tmp_path, emulator)
    cli_load("--resources", "forms")
    (lock,) = setup.pipelines_dir.glob("*.lock")
    emulator.request_log.clear()

    with lock.open("a") as held, DagsterInstance.ephemeral() as instance:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = execute_job("refiner_incremental", instance)
        tags = instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]

    assert result.success
    assert materializations(result) == {}
    assert len(emulator.request_log) == 0
    skipped = {event.step_key for event in events_of(result, "STEP_SKIPPED")}
    assert skipped == {"refiner_transform", "push_traits"}
    reason = tags["refiner/skipped"]
    assert reason.startswith("load skipped: another `refiner load` is already running on pipeline")
    assert lock.stem in reason


def test_a_refused_key_fails_the_load_step_with_the_cli_message(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: Emulator = make_emulator(**SEED)
    configure(monkeypatch, tmp_path, emulator, api_key=SENTINEL_KEY)
    run = run_refiner("load")
    assert run.code == 3
    (line,) = run.error_lines
    assert line.startswith("Error: ")
    cli_message = line.removeprefix("Error: ")

    result = execute_job("refiner_incremental")

    assert not result.success
    (failure,) = events_of(result, "STEP_FAILURE")
    assert failure.step_key == "refiner_load"
    data = failure.step_failure_data
    assert data.user_failure_data.description == cli_message
    assert events_of(result, "STEP_UP_FOR_RETRY") == []
    assert {e.step_key for e in events_of(result, "STEP_START")} == {"refiner_load"}
    assert all(SENTINEL_KEY not in str(event) for event in result.all_events)


def test_a_warehouse_that_is_down_fails_the_load_step_with_the_cli_message(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: Emulator = make_emulator(**SEED)
    configure(monkeypatch, tmp_path, emulator)
    password = "sentinel-pw-5d1c"
    monkeypatch.setenv("WAREHOUSE__DESTINATION", "postgres")
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS",
        f"postgresql://loader:{password}@127.0.0.1:{free_port()}/refiner",
    )
    run = run_refiner("load")
    assert run.code == 1
    (line,) = run.error_lines
    cli_message = line.removeprefix("Error: ")
    assert cli_message.startswith("Cannot reach the PostgreSQL warehouse")

    result = execute_job("refiner_incremental")

    assert not result.success
    (failure,) = events_of(result, "STEP_FAILURE")
    assert failure.step_key == "refiner_load"
    assert failure.step_failure_data.user_failure_data.description == cli_message
    assert events_of(result, "STEP_UP_FOR_RETRY") == []
    assert all(password not in str(event) for event in result.all_events)
