"""Deletions: `refiner load --reconcile` removes contacts gone from Refiner, with their data,
and refreshes every remaining contact's traits."""

from __future__ import annotations

from pathlib import Path

import httpx

from emulator import DEFAULT_API_KEY, Emulator
from tests.load.helpers import (
    assert_consistent,
    duckdb_warehouse,
    load,
    truth_contacts,
    truth_responses,
)


def _in(values: set[str]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in sorted(values)) + ")"


def test_reconcile_removes_deleted_contacts_responses_and_answers(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    emulator = load_emulator
    warehouse = duckdb_warehouse(tmp_path)
    pipelines = tmp_path / "pipelines"
    load(emulator, warehouse, pipelines)
    before = warehouse.counts()

    # Three contacts that have loaded responses, attributes and segment memberships.
    responses = truth_responses(emulator)
    answered = {r["contact"]["uuid"] for r in responses.values()}
    victims = {
        uuid
        for uuid, contact in sorted(truth_contacts(emulator).items())
        if uuid in answered and contact["segments"] and contact["attributes"]
    }
    victims = set(sorted(victims)[:3])
    assert len(victims) == 3
    victim_responses = {u for u, r in responses.items() if r["contact"]["uuid"] in victims}
    with httpx.Client(headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}) as http:
        for uuid in victims:
            http.delete(f"{emulator.base_url}/contact", params={"uuid": uuid}).raise_for_status()
    assert not victims & set(emulator.store.contacts)

    # A trait change on a contact whose last_seen_at is old: only a full sweep sees it.
    quiet = sorted(set(emulator.store.contacts) - victims)[0]
    old_seen = emulator.store.render_contact(quiet)["first_seen_at"]
    emulator.store.upsert_contact(
        uuid=quiet, attributes={"churn_risk": 0.75}, last_seen_at=old_seen
    )

    load(emulator, warehouse, pipelines, "--reconcile")

    refreshed = warehouse.row("contact_attributes", contact_uuid=quiet, name="churn_risk")
    assert refreshed["value_number"] == 0.75

    gone = _in(victims)
    checks = {
        "contacts": f"uuid in {gone}",
        "contact_attributes": f"contact_uuid in {gone}",
        "contact_segments": f"contact_uuid in {gone}",
        "responses": f"contact_uuid in {gone} or uuid in {_in(victim_responses)}",
        "response_answers": f"contact_uuid in {gone} or response_uuid in {_in(victim_responses)}",
    }
    for table, where in checks.items():
        left = warehouse.query(f"select count(*) from {{ds}}.{table} where {where}")[0][0]
        assert left == 0, f"{table}: {left} rows of deleted contacts remain"
    after = warehouse.counts()
    assert after["contacts"] == before["contacts"] - 3
    assert after["responses"] == before["responses"] - len(victim_responses)
    assert after["response_answers"] < before["response_answers"]
    assert_consistent(warehouse, emulator)
