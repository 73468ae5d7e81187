"""`refiner load` options beyond the defaults: include=all and --full-refresh."""

from __future__ import annotations

from pathlib import Path

from emulator import Emulator
from tests.load.helpers import (
    START_DATE,
    api_instant,
    assert_consistent,
    assert_matches_ground_truth,
    assert_no_duplicate_keys,
    duckdb_warehouse,
    load,
    truth_responses,
)


def test_include_all_loads_every_survey_view(load_emulator: Emulator, tmp_path: Path) -> None:
    emulator = load_emulator
    views = truth_responses(emulator, "all")
    assert len(views) > len(truth_responses(emulator)), "the seed has no view without completion"
    warehouse = duckdb_warehouse(tmp_path)

    load(emulator, warehouse, tmp_path / "pipelines", include="all")

    assert_matches_ground_truth(warehouse, emulator, include="all")
    assert_no_duplicate_keys(warehouse)
    dismissed = [uuid for uuid, view in views.items() if view["dismissed_at"] is not None]
    assert dismissed, "the seed has no dismissed view"
    row = warehouse.row("responses", uuid=dismissed[0])
    assert row["dismissed_at"] == api_instant(views[dismissed[0]]["dismissed_at"])


def test_full_refresh_drops_tables_and_state_and_reloads_everything(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    emulator = load_emulator
    warehouse = duckdb_warehouse(tmp_path)
    pipelines = tmp_path / "pipelines"
    load(emulator, warehouse, pipelines)
    gone = next(r["contact"]["uuid"] for r in truth_responses(emulator).values())
    emulator.store.delete_contact(gone)
    emulator.request_log.clear()

    load(emulator, warehouse, pipelines, "--full-refresh")

    assert_consistent(warehouse, emulator)
    left = warehouse.query(f"select count(*) from {{ds}}.responses where contact_uuid = '{gone}'")
    assert left[0][0] == 0
    assert warehouse.query("select count(distinct _dlt_load_id) from {ds}.contacts")[0][0] == 1
    starts = [
        api_instant(str(e.params["date_range_start"]))
        for e in emulator.request_log.filter(path="/responses")
        if e.params.get("date_range_start")
    ]
    assert min(starts) == api_instant(f"{START_DATE} 00:00:00"), "the cursor was not reset"
