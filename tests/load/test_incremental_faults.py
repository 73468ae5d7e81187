"""Fault matrix, incremental correctness (issue 5 §1, scenarios 1, 2, 3 and 5).

Every load is `refiner --debug load` with the sentinel key; every check counts rows in the
warehouse and compares them with the emulator's ground truth.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from tests.load.helpers import LOOKBACK_HOURS, SNAPSHOT_TABLES, api_instant
from tests.load.scenarios import (
    Workspace,
    add_responses,
    assert_correct,
    response_cursor,
    stored_state,
    table_hashes,
)


def test_s01_rerun_without_changes_adds_nothing_and_keeps_content(workspace: Workspace) -> None:
    """A second run with no change in Refiner: no new rows, byte-identical table content."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    workspace.load_ok()
    assert_correct(warehouse, emulator)
    counts, hashes = warehouse.counts(), table_hashes(warehouse)

    workspace.load_ok()

    after = warehouse.counts()
    assert {t: n for t, n in after.items() if t not in SNAPSHOT_TABLES} == {
        t: n for t, n in counts.items() if t not in SNAPSHOT_TABLES
    }
    assert after["account_usage"] == counts["account_usage"] + 1, "one snapshot per run"
    assert table_hashes(warehouse) == hashes
    assert_correct(warehouse, emulator)


def test_s02_new_and_modified_responses_arrive_exactly_once(workspace: Workspace) -> None:
    """k new and m modified responses: exactly k more rows, and exactly those m rows change."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    workspace.load_ok()
    before = {row["uuid"]: row for row in warehouse.rows("responses")}
    new = add_responses(emulator, 7)
    modified = sorted(before)[:5]
    now = emulator.clock.now()
    for i, uuid in enumerate(modified):
        emulator.store.update_response(
            uuid,
            data={"reliability_note": f"edited {i} — “quoted” 'twice'"},
            last_shown_at=now + timedelta(seconds=i),
            last_data_reception_at=now + timedelta(seconds=i),
        )

    workspace.load_ok()

    after = {row["uuid"]: row for row in warehouse.rows("responses")}
    assert set(after) - set(before) == set(new), "exactly the k new responses were inserted"
    assert len(after) == len(before) + len(new)
    changed = {
        uuid for uuid, row in before.items() if _without_dlt(after[uuid]) != _without_dlt(row)
    }
    assert changed == set(modified), "exactly the m modified responses were updated"
    for i, uuid in enumerate(modified):
        assert after[uuid]["data"]["reliability_note"] == f"edited {i} — “quoted” 'twice'"
    assert_correct(warehouse, emulator)


def test_s03_responses_sharing_one_timestamp_across_pages_over_three_runs(
    workspace: Workspace,
) -> None:
    """300 responses with the same `last_data_reception_at`, spanning many pages, arriving
    over three runs: none lost, none duplicated, after every run."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    tied = emulator.clock.now().replace(microsecond=0)
    first = add_responses(emulator, 150, at=tied, spread=False)
    workspace.load_ok()
    assert_correct(warehouse, emulator)

    second = add_responses(emulator, 150, at=tied, spread=False)
    workspace.load_ok()
    assert_correct(warehouse, emulator)

    workspace.load_ok()
    assert_correct(warehouse, emulator)
    loaded = {row[0] for row in warehouse.query("select uuid from {ds}.responses")}
    assert set(first) | set(second) <= loaded
    tied_rows = warehouse.query(
        "select count(*), count(distinct uuid) from {ds}.responses "
        f"where last_data_reception_at = '{tied.isoformat()}'"
    )[0]
    assert tied_rows[0] == tied_rows[1] >= 300


def test_s05_wiped_pipeline_folder_restores_state_from_the_destination(
    workspace: Workspace,
) -> None:
    """An ephemeral worker: the pipelines folder is gone before the second run. State comes
    back from the warehouse; only the lookback window is re-read; nothing is duplicated."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    workspace.load_ok()
    cursor = response_cursor(stored_state(warehouse))
    assert cursor is not None, "the responses cursor was not stored in the destination"
    shutil.rmtree(workspace.pipelines_dir)
    new = add_responses(emulator, 5)
    emulator.request_log.clear()

    workspace.load_ok()

    assert_correct(warehouse, emulator)
    assert set(new) <= {row[0] for row in warehouse.query("select uuid from {ds}.responses")}
    lookback_start = cursor - timedelta(hours=LOOKBACK_HOURS, minutes=1)
    starts = [
        api_instant(str(entry.params["date_range_start"]))
        for entry in emulator.request_log.filter(path="/responses")
        if not entry.params.get("page_cursor")
    ]
    assert starts, "the second run did not ask for responses"
    assert all(start is not None and start >= lookback_start for start in starts), (
        f"re-downloaded responses from {min(s for s in starts if s)}; the cursor was {cursor}"
    )


def _without_dlt(row: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in row.items() if not name.startswith("_dlt_")}
