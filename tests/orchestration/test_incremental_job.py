"""refiner_incremental executed in process against the emulator, on DuckDB: rows land, dbt
builds the marts, traits are pushed; the second run is incremental and pushes nothing; a CLI
load of the same data leaves identical tables."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dagster", reason="needs the dagster extra: pip install 'refiner-dlt[dagster]'")

from emulator import Emulator
from tests.conftest import MakeEmulator
from tests.orchestration.helpers import (
    SEED,
    cli_load,
    configure,
    differing_tables,
    execute_job,
    materializations,
    query,
    reads,
    writes,
)

pytestmark = pytest.mark.slow
TRAITS_SENT = (
    "SELECT count(*) FROM refiner_analytics.contact_traits"
    " WHERE remote_id IS NOT NULL OR email IS NOT NULL"
)


def test_incremental_job_loads_models_pushes_then_runs_incrementally(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: Emulator = make_emulator(**SEED)
    setup = configure(monkeypatch, tmp_path, emulator)

    first = execute_job("refiner_incremental")
    assert first.success
    assets = materializations(first)
    responses = assets["refiner/responses"]
    (landed,) = query(setup.duckdb_path, "SELECT count(*) FROM refiner_raw.responses")[0]
    assert responses["rows_loaded"] == landed > 0
    assert responses["api_requests"] == reads(emulator)
    assert any(name.startswith("responses.") for name in responses["cursors"])
    for model in ("stg_refiner__responses", "fct_responses", "contact_traits", "nps_daily"):
        assert model in assets, f"dbt did not materialize {model}"
    (expected_pushes,) = query(setup.duckdb_path, TRAITS_SENT)[0]
    assert expected_pushes > 0
    assert writes(emulator) == assets["push_traits"]["succeeded"] == expected_pushes

    monkeypatch.setenv("DIGEST__OUTPUT_DIR", str(tmp_path / "digest"))
    digest = execute_job("refiner_daily_digest")
    assert digest.success
    delivered = materializations(digest)["daily_digest"]
    assert (delivered["delivered"], delivered["skipped_empty"]) == ("file", False)
    assert (tmp_path / "digest" / "digest.json").is_file()

    emulator.request_log.clear()
    second = execute_job("refiner_incremental")
    assert second.success
    second_reads = reads(emulator)
    again = materializations(second)
    assert again["refiner/responses"]["api_requests"] == second_reads
    assert again["refiner/responses"]["rows_loaded"] < responses["rows_loaded"]
    # identify-user touched contacts (last_seen_at); responses did not change.
    assert responses_cursors(again) == responses_cursors(assets)
    assert writes(emulator) == 0
    assert again["push_traits"]["sent"] == 0

    emulator.request_log.clear()
    cli_load()
    noop_reads = reads(emulator)
    assert abs(second_reads - noop_reads) <= 2, (second_reads, noop_reads)
    assert responses["api_requests"] - noop_reads > 10

    other = tmp_path / "cli.duckdb"
    cli_load("--duckdb-path", str(other))
    assert differing_tables(setup.duckdb_path, other) == []


def responses_cursors(assets: dict[str, dict[str, object]]) -> dict[str, object]:
    cursors = assets["refiner/responses"]["cursors"]
    assert isinstance(cursors, dict)
    return {name: value for name, value in cursors.items() if name.startswith("responses.")}
