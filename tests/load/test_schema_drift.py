"""Schema drift: a new contact attribute and a new question load without a code change."""

from __future__ import annotations

from pathlib import Path

from emulator import Emulator
from tests.load.helpers import (
    GROUND_TRUTH_TABLES,
    assert_consistent,
    duckdb_warehouse,
    load,
    truth_responses,
)

NEW_ATTRIBUTE = "favourite_colour_ünïcode"
NEW_QUESTION = "what_would_you_add_next_quarter_to_the_product_roadmap_if_you_could_choose_one"


def test_new_attribute_and_new_question_arrive_and_nothing_is_lost(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    emulator = load_emulator
    warehouse = duckdb_warehouse(tmp_path)
    pipelines = tmp_path / "pipelines"
    load(emulator, warehouse, pipelines)
    tables_before = warehouse.tables()
    columns_before = {t: set(warehouse.columns(t)) for t in GROUND_TRUTH_TABLES}
    keys_before = {t: warehouse.keys(t) for t in GROUND_TRUTH_TABLES}

    store = emulator.store
    contact_uuid = sorted(store.contacts)[0]
    store.upsert_contact(uuid=contact_uuid, attributes={NEW_ATTRIBUTE: "teal — 青緑"})
    template = sorted(truth_responses(emulator).values(), key=lambda r: r["uuid"])[0]
    response_uuid = store.add_response(
        form_uuid=template["form"]["uuid"],
        contact_uuid=sorted(store.contacts)[1],
        data={**template["data"], NEW_QUESTION: ["Dark mode", "Exports ✓"]},
    )
    load(emulator, warehouse, pipelines)

    attribute = warehouse.row("contact_attributes", contact_uuid=contact_uuid, name=NEW_ATTRIBUTE)
    assert attribute["value_text"] == "teal — 青緑"
    assert (
        warehouse.row("contacts", uuid=contact_uuid)["attributes"][NEW_ATTRIBUTE] == "teal — 青緑"
    )
    answers = warehouse.rows(
        "response_answers",
        f"response_uuid = '{response_uuid}' and question_identifier = '{NEW_QUESTION}'",
    )
    assert sorted((a["position"], a["value_text"]) for a in answers) == [
        (0, "Dark mode"),
        (1, "Exports ✓"),
    ]
    assert warehouse.row("responses", uuid=response_uuid)["data"][NEW_QUESTION] == [
        "Dark mode",
        "Exports ✓",
    ]

    # No table or column per question or attribute: `data` and `attributes` stay JSON.
    assert warehouse.tables() == tables_before
    for table in GROUND_TRUTH_TABLES:
        columns = set(warehouse.columns(table))
        assert columns == columns_before[table], (
            f"{table} columns changed: {columns ^ columns_before[table]}"
        )
        lost = keys_before[table] - warehouse.keys(table)
        assert not lost, f"{table}: {len(lost)} loaded rows were lost"
    assert_consistent(warehouse, emulator)
