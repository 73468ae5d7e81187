"""The typed webhook body and its deduplication key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.events.payload import PayloadError, parse_body
from tests.events.helpers import encode, segment_payload, survey_payload


def test_refiner_timestamps_and_counts_as_strings_are_read() -> None:
    body = survey_payload(received="2022-10-12T02:05:55.000000Z")
    body["response"]["show_counter"] = "3"
    delivery = parse_body(encode(body))
    response = delivery.payload.response
    assert response is not None
    assert response.show_counter == 3
    assert response.last_data_reception_at == datetime(2022, 10, 12, 2, 5, 55, tzinfo=UTC)
    assert delivery.raw["attributes"]["form_submissions_count"] == "1"


def test_key_is_response_trigger_and_version() -> None:
    body = survey_payload(response_uuid="r-1")
    again = parse_body(encode(body))
    assert parse_body(encode(body)).delivery_id == again.delivery_id
    body["response"]["last_data_reception_at"] = "2024-05-21T00:00:00.000000Z"
    assert parse_body(encode(body)).delivery_id != again.delivery_id
    body["triggered_event"] = "Tag added"
    assert parse_body(encode(body)).key.startswith('["response","r-1","Tag added"')


def test_contact_only_key_names_contact_trigger_and_segments() -> None:
    first = parse_body(encode(segment_payload("c-1", "seg-a")))
    other = parse_body(encode(segment_payload("c-1", "seg-b")))
    assert first.key.startswith('["contact","c-1","User enters segment",["seg-a"]')
    assert first.delivery_id != other.delivery_id


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"uuid": "c"}', b'{"uuid": "c", "triggered_event": 1}', b"\xff"],
)
def test_bad_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_body(body)
