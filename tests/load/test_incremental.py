"""Incremental runs: a no-change run is cheap and adds nothing; changes arrive exactly once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emulator import Emulator
from tests.load.helpers import (
    LOOKBACK_HOURS,
    PAGE_LENGTH,
    SNAPSHOT_TABLES,
    Warehouse,
    answer_keys,
    api_instant,
    assert_consistent,
    load,
    requests_by_path,
    truth_responses,
)

NEW_RESPONSES = 50
UPDATED_CONTACTS = 20
RESPONDING_CONTACTS = 10


def _latest(warehouse: Warehouse, table: str, column: str) -> datetime:
    value = warehouse.query(f"select max({column}) from {{ds}}.{table}")[0][0]
    assert isinstance(value, datetime) and value.tzinfo is not None
    return value


def _add_changes(emulator: Emulator, response_cursor: datetime) -> dict[str, Any]:
    """50 new responses, 1 late response dated inside the lookback before the cursor, 20
    contact updates, and 1 edited response whose multi-select answer shrinks to one option;
    returns what was changed."""
    store = emulator.store
    templates = sorted(truth_responses(emulator).values(), key=lambda r: r["uuid"])
    edited = next(
        r for r in templates if any(isinstance(v, list) and len(v) > 1 for v in r["data"].values())
    )
    question = next(q for q, v in edited["data"].items() if isinstance(v, list) and len(v) > 1)
    # The edited response's contact is among the updated ones: its attributes (latest answers)
    # change with the edit, and only a newer last_seen_at brings a contact into a frequent run.
    edited_contact = edited["contact"]["uuid"]
    contacts = [edited_contact, *(c for c in sorted(store.contacts) if c != edited_contact)]
    updated = contacts[:UPDATED_CONTACTS]
    responders = contacts[UPDATED_CONTACTS : UPDATED_CONTACTS + RESPONDING_CONTACTS]
    now = emulator.clock.now()
    new = [
        store.add_response(
            form_uuid=template["form"]["uuid"],
            contact_uuid=responders[i % RESPONDING_CONTACTS],
            data=template["data"],
            at=now - timedelta(seconds=i),
        )
        for i, template in enumerate(templates[:NEW_RESPONSES])
    ]
    for i, uuid in enumerate(updated):
        store.upsert_contact(uuid=uuid, attributes={"loyalty_tier": f"tier-{i}", "seats": 100 + i})
    late_at = response_cursor - timedelta(minutes=30)
    late = store.add_response(
        form_uuid=templates[-1]["form"]["uuid"],
        contact_uuid=updated[0],
        data=templates[-1]["data"],
        at=late_at,
    )
    store.update_response(
        edited["uuid"],
        data={question: edited["data"][question][:1]},
        merge_data=False,
        last_data_reception_at=now,
    )
    return {
        "new": new,
        "late": late,
        "late_at": late_at,
        "updated": updated,
        "edited": edited,
        "edited_question": question,
    }


def test_no_change_run_is_cheap_and_changes_arrive_exactly_once(
    load_emulator: Emulator, warehouse: Warehouse, tmp_path: Path
) -> None:
    emulator = load_emulator
    pipelines = tmp_path / "pipelines"
    load(emulator, warehouse, pipelines)
    assert_consistent(warehouse, emulator)
    full_requests = requests_by_path(emulator)
    first = warehouse.counts()

    # A run with no changes: at most 2 requests per resource (reporting re-fetches by design).
    emulator.request_log.clear()
    load(emulator, warehouse, pipelines)
    idle = {path: n for path, n in requests_by_path(emulator).items() if path != "/reporting"}
    assert idle, "the idle run made no request at all"
    assert all(n <= 2 for n in idle.values()), f"idle run requests per path: {idle}"
    second = warehouse.counts()
    grown = {
        t: (first[t], second[t])
        for t in first
        if t not in SNAPSHOT_TABLES and second[t] != first[t]
    }
    assert not grown, f"an idle run changed row counts: {grown}"
    assert second["account_usage"] == first["account_usage"] + 1
    # Rows re-read (the lookback, forms, segments, reporting's re-fetch days) were loaded
    # before and have not changed, so the idle run wrote none of them again.
    idle_load = warehouse.query("select max(load_id) from {ds}._dlt_loads where status = 0")[0][0]
    in_load = "select count(*) from {{ds}}.{table} where _dlt_load_id = '{load_id}'"
    rewritten = {
        table: n
        for table in second
        if table not in SNAPSHOT_TABLES
        and (n := warehouse.query(in_load.format(table=table, load_id=idle_load))[0][0])
    }
    assert not rewritten, f"an idle run wrote unchanged rows again: {rewritten}"
    assert_consistent(warehouse, emulator)

    # Changes: 50 responses, 1 late response, 20 contact updates.
    response_cursor = _latest(warehouse, "responses", "last_data_reception_at")
    lookback_start = response_cursor - timedelta(hours=LOOKBACK_HOURS)
    window_before = {
        uuid
        for uuid, r in truth_responses(emulator).items()
        if api_instant(r["last_data_reception_at"]) >= lookback_start  # type: ignore[operator]
    }
    changes = _add_changes(emulator, response_cursor)
    arrived = {*changes["new"], changes["late"]}
    truth = truth_responses(emulator)
    assert arrived <= set(truth)
    emulator.request_log.clear()
    load(emulator, warehouse, pipelines)
    third = warehouse.counts()

    # Exactly the changes arrived: row deltas counted in the warehouse.
    assert third["responses"] - second["responses"] == NEW_RESPONSES + 1
    assert third["contacts"] == second["contacts"]
    edited = changes["edited"]
    answers_added = sum(len(answer_keys(truth[uuid])) for uuid in arrived)
    answers_added += 1 - len(answer_keys(edited))
    assert third["response_answers"] - second["response_answers"] == answers_added
    # The edited response's answers were replaced, not added to: one option at position 0.
    replaced = {
        (r["question_identifier"], r["position"])
        for r in warehouse.rows("response_answers", f"response_uuid = '{edited['uuid']}'")
    }
    assert replaced == {(changes["edited_question"], 0)}
    question = changes["edited_question"]
    edited_row = warehouse.row("responses", uuid=edited["uuid"])
    assert edited_row["data"] == {question: edited["data"][question][:1]}
    loaded = {row[0] for row in warehouse.query("select uuid from {ds}.responses")}
    assert arrived <= loaded
    late = warehouse.row("responses", uuid=changes["late"])
    assert late["last_data_reception_at"] == changes["late_at"].replace(microsecond=0)
    assert late["last_data_reception_at"] < response_cursor
    for i, uuid in enumerate(changes["updated"]):
        contact = warehouse.row("contacts", uuid=uuid)
        assert contact["attributes"]["loyalty_tier"] == f"tier-{i}"
        tier = warehouse.row("contact_attributes", contact_uuid=uuid, name="loyalty_tier")
        assert tier["value_text"] == f"tier-{i}"
        seats = warehouse.row("contact_attributes", contact_uuid=uuid, name="seats")
        assert seats["value_number"] == 100 + i
    assert_consistent(warehouse, emulator)

    # Only the new window was re-read: responses loaded by this run are the changes plus what
    # sat inside the lookback window, never older ones.
    last_load = warehouse.query("select max(load_id) from {ds}._dlt_loads where status = 0")[0][0]
    reloaded = {
        row[0]
        for row in warehouse.query(
            f"select uuid from {{ds}}.responses where _dlt_load_id = '{last_load}'"
        )
    }
    allowed = arrived | window_before | {edited["uuid"]}
    assert arrived | {edited["uuid"]} <= reloaded <= allowed, (
        f"{len(reloaded - allowed)} responses re-loaded from outside the window"
    )

    # The request log shows only the new windows and pages were fetched.
    log = list(emulator.request_log)
    response_requests = [e for e in log if e.path == "/responses"]
    first_pages = [e for e in response_requests if not e.params.get("page_cursor")]
    assert first_pages, "no /responses request in the incremental run"
    slack = timedelta(minutes=1)
    for entry in first_pages:
        start = (
            api_instant(str(entry.params.get("date_range_start") or ""))
            if entry.params.get("date_range_start")
            else None
        )
        assert start is not None, f"/responses without date_range_start: {entry.params}"
        assert start >= lookback_start - slack, (
            f"re-read from {start}, lookback starts {lookback_start}"
        )
    in_window = len(allowed)
    assert len(response_requests) <= math.ceil(in_window / PAGE_LENGTH) + 2, (
        f"{len(response_requests)} /responses requests for {in_window} responses in the window"
    )
    assert len(response_requests) < full_requests["/responses"]
    contact_requests = [e for e in log if e.path == "/contacts"]
    assert contact_requests, "no /contacts request in the incremental run"
    changed_contacts = RESPONDING_CONTACTS + UPDATED_CONTACTS
    assert len(contact_requests) <= math.ceil(changed_contacts / PAGE_LENGTH) + 1, (
        f"{len(contact_requests)} /contacts requests for {changed_contacts} changed contacts"
    )
    assert len(contact_requests) < full_requests["/contacts"]
    assert all(
        e.params.get("order_by") == "last_seen_at"
        for e in contact_requests
        if not e.params.get("page_cursor")
    )
