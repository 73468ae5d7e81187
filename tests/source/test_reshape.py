"""Unit tests of sources/refiner/reshape.py: Refiner pages into typed Arrow tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from sources.refiner.reshape import (
    TIMESTAMP,
    reshape_contacts,
    reshape_responses,
    utc_timestamps,
)
from sources.refiner.schema import BUILT_FROM_PARENT_ROW


def _response(uuid: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uuid": uuid,
        "first_shown_at": "2024-05-20 17:00:02",
        "last_shown_at": "2024-05-20 17:00:02",
        "show_counter": 1,
        "first_data_reception_at": "2024-05-20 17:00:40",
        "last_data_reception_at": "2024-05-20 17:01:05",
        "completed_at": "2024-05-20 17:01:05",
        "received_at": "2024-05-20 17:01:05",
        "dismissed_at": None,
        "form": {"uuid": "f1", "name": "NPS Q2"},
        "data": {},
        "contact": {
            "uuid": "c1",
            "remote_id": "user-42",
            "email": None,
            "display_name": "Zoë Ångström",
            "account": None,
        },
    }
    base.update(fields)
    return base


def test_both_timestamp_formats_and_offsets_become_the_same_utc_instant() -> None:
    parsed = utc_timestamps(
        [
            "2024-05-20 17:01:05",
            "2024-05-20T17:01:05.000000Z",
            "2024-05-20T19:01:05+02:00",
            "2024-05-20T12:01:05-0500",
            None,
        ]
    )
    assert parsed.type == TIMESTAMP
    instant = datetime(2024, 5, 20, 17, 1, 5, tzinfo=UTC)
    assert parsed.to_pylist()[:4] == [instant] * 4
    assert parsed.to_pylist()[4] is None


def test_dates_and_unparseable_values() -> None:
    parsed = utc_timestamps(["2024-05-20", "not a time"]).to_pylist()
    assert parsed == [datetime(2024, 5, 20, tzinfo=UTC), None]


def test_response_columns_unicode_null_email_and_json_data() -> None:
    data = {"nps": 9, "comment": "Très bien 👍 שלום", "features": ["API", "SSO"], "ok": True}
    tables = reshape_responses([_response("r1", data=data)])
    row = tables.responses.to_pylist()[0]
    assert row["contact_email"] is None
    assert row["contact_display_name"] == "Zoë Ångström"
    assert row["form_uuid"] == "f1" and row["contact_uuid"] == "c1"
    assert orjson.loads(row["data"]) == data
    assert row["last_data_reception_at"] == datetime(2024, 5, 20, 17, 1, 5, tzinfo=UTC)


def test_answers_are_typed_and_lists_keep_positions() -> None:
    data = {
        "nps": 9,
        "comment": "Très bien",
        "features": ["API", "SSO"],
        "ok": False,
        "skipped": None,
        "score": "7",
        "none": [],
    }
    answers = reshape_responses([_response("r1", data=data)]).answers.to_pylist()
    by_key = {(a["question_identifier"], a["position"]): a for a in answers}
    assert set(by_key) == {
        ("nps", 0),
        ("comment", 0),
        ("features", 0),
        ("features", 1),
        ("ok", 0),
        ("skipped", 0),
        ("score", 0),
    }
    assert by_key[("nps", 0)]["value_number"] == 9.0
    assert by_key[("comment", 0)]["value_text"] == "Très bien"
    assert by_key[("comment", 0)]["value_number"] is None
    assert [by_key[("features", i)]["value_text"] for i in (0, 1)] == ["API", "SSO"]
    assert by_key[("ok", 0)]["value_bool"] is False
    skipped = by_key[("skipped", 0)]
    assert (skipped["value_text"], skipped["value_number"], skipped["value_bool"]) == (None,) * 3
    assert by_key[("score", 0)]["value_number"] == 7.0
    assert all(a["response_uuid"] == "r1" and a["contact_uuid"] == "c1" for a in answers)
    assert all(a["answered_at"] == datetime(2024, 5, 20, 17, 1, 5, tzinfo=UTC) for a in answers)


def test_missing_cursor_is_kept_as_null() -> None:
    tables = reshape_responses([_response("r1"), _response("r2", last_data_reception_at=None)])
    assert tables.responses.num_rows == 2
    assert tables.responses["last_data_reception_at"].null_count == 1


def test_answer_rows_point_at_their_response() -> None:
    tables = reshape_responses(
        [_response("r1", data={"a": ["x", "y"]}), _response("r2", data={}), _response("r3")]
    )
    rows = tables.answer_rows.to_pylist()
    uuids = tables.responses["uuid"].to_pylist()
    assert [uuids[row] for row in rows] == tables.answers["response_uuid"].to_pylist()
    assert rows[:2] == [0, 0] and 1 not in rows


def test_empty_page_gives_typed_empty_tables() -> None:
    tables = reshape_responses([])
    assert tables.responses.num_rows == 0 and tables.answers.num_rows == 0
    assert tables.responses.schema.field("last_data_reception_at").type == TIMESTAMP
    assert tables.answers.schema.field("value_number").type == pa.float64()


def test_contacts_flatten_account_and_type_attributes() -> None:
    contact = {
        "uuid": "c1",
        "remote_id": "user-42",
        "email": None,
        "display_name": "李雷",
        "first_seen_at": "2024-03-01T08:15:00.000000Z",
        "last_seen_at": "2024-05-20T19:02:11+02:00",
        "attributes": {
            "plan": "pro",
            "seats": 12,
            "vip": True,
            "signed_up_at": "2024-01-02 03:04:05",
            "nps": "9",
        },
        "segments": [
            {"uuid": "s1", "name": "Promoters", "created_at": "2024-05-01T00:00:00.000000Z"}
        ],
        "account": {
            "uuid": "a1",
            "remote_id": "acct-7",
            "domain": "example.org",
            "display_name": "Example",
            "attributes": {"industry": "Software"},
        },
    }
    tables = reshape_contacts([contact])
    row = tables.contacts.to_pylist()[0]
    assert row["account_domain"] == "example.org" and row["email"] is None
    assert row["last_seen_at"] == datetime(2024, 5, 20, 17, 2, 11, tzinfo=UTC)
    assert orjson.loads(row["account_attributes"]) == {"industry": "Software"}
    attributes = {a["name"]: a for a in tables.attributes.to_pylist()}
    assert attributes["seats"]["value_number"] == 12.0
    assert attributes["vip"]["value_bool"] is True
    assert attributes["plan"]["value_text"] == "pro"
    assert attributes["nps"]["value_number"] == 9.0
    assert attributes["signed_up_at"]["value_timestamp"] == datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    segment = tables.segments.to_pylist()[0]
    assert segment == {
        "contact_uuid": "c1",
        "segment_uuid": "s1",
        "segment_name": "Promoters",
        "entered_at": datetime(2024, 5, 1, tzinfo=UTC),
    }
    assert tables.attribute_rows.to_pylist() == [0] * 5


def test_the_children_said_to_be_built_from_the_parent_row_are() -> None:
    """LoadedRows fingerprints a contact or a response without these child rows, because the
    parent row's columns determine them: rebuilding each record from its parent row alone
    must give the same child rows."""
    assert {"contact_attributes", "response_answers"} == BUILT_FROM_PARENT_ROW
    responses = [
        _response("r1", data={"nps": 9, "features": ["API", "SSO"], "when": "2024-05-01"}),
        _response("r2", data={"comment": "ok"}, tags=["vip"], show_counter=3),
    ]
    tables = reshape_responses(responses)
    rebuilt = reshape_responses(
        [
            {
                "uuid": row["uuid"],
                "last_data_reception_at": row["last_data_reception_at"].isoformat(),
                "form": {"uuid": row["form_uuid"]},
                "contact": {"uuid": row["contact_uuid"]},
                "data": orjson.loads(row["data"]),
            }
            for row in tables.responses.to_pylist()
        ]
    )
    assert rebuilt.answers.equals(tables.answers)

    contacts = [
        {"uuid": "c1", "email": "a@x", "attributes": {"plan": "pro", "seen_at": "2024-05-01"}},
        {"uuid": "c2", "account": {"uuid": "a1"}, "attributes": {"seats": 3, "ok": True}},
    ]
    contact_tables = reshape_contacts(contacts)
    rebuilt_contacts = reshape_contacts(
        [
            {"uuid": row["uuid"], "attributes": orjson.loads(row["attributes"])}
            for row in contact_tables.contacts.to_pylist()
        ]
    )
    assert rebuilt_contacts.attributes.equals(contact_tables.attributes)
