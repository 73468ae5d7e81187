"""Every endpoint's body, field by field, against refiner-api.md §3-§5, §9."""

from __future__ import annotations

import re
from typing import Any

import httpx

from emulator import Emulator

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000000Z$")
PLAIN = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CONTACT_KEYS = [
    "uuid",
    "remote_id",
    "email",
    "display_name",
    "first_seen_at",
    "last_seen_at",
    "attributes",
    "segments",
    "account",
    "last_form_submission_at",
    "last_tracking_event_at",
]
ACCOUNT_KEYS = [
    "uuid",
    "remote_id",
    "domain",
    "display_name",
    "first_seen_at",
    "last_seen_at",
    "attributes",
]
RESPONSE_KEYS = [
    "uuid",
    "first_shown_at",
    "last_shown_at",
    "show_counter",
    "first_data_reception_at",
    "last_data_reception_at",
    "completed_at",
    "received_at",
    "dismissed_at",
    "form",
    "data",
    "contact",
    "tags",
]
FORM_INFO_KEYS = [
    "uuid",
    "name",
    "channels",
    "created_at",
    "updated_at",
    "published_at",
    "archived_at",
    "first_form_view_at",
    "last_form_view_at",
    "folder",
    "responses_count",
    "views_count",
    "page_url",
]
PAGINATION_KEYS = ["items_count", "current_page", "last_page", "page_length", "next_page_cursor"]


def _timestamp(value: Any, pattern: re.Pattern[str], nullable: bool = True) -> None:
    if value is None:
        assert nullable
    else:
        assert pattern.match(value), value


def check_contact(item: dict[str, Any]) -> None:
    """Contact §4.1 with account §4.2 (full form)."""
    assert list(item) == CONTACT_KEYS
    assert UUID.match(item["uuid"])
    for key in ("remote_id", "email", "display_name"):
        assert item[key] is None or isinstance(item[key], str)
    _timestamp(item["first_seen_at"], ISO_Z, nullable=False)
    _timestamp(item["last_seen_at"], ISO_Z, nullable=False)
    _timestamp(item["last_form_submission_at"], ISO_Z)
    _timestamp(item["last_tracking_event_at"], ISO_Z)
    assert isinstance(item["attributes"], dict)
    for segment in item["segments"]:
        assert list(segment) == ["uuid", "name", "created_at"]
        _timestamp(segment["created_at"], ISO_Z, nullable=False)
    if item["account"] is not None:
        account = item["account"]
        assert list(account) == ACCOUNT_KEYS
        _timestamp(account["first_seen_at"], ISO_Z, nullable=False)
        assert isinstance(account["attributes"], dict)


def check_response(item: dict[str, Any], with_attributes: bool = False) -> None:
    """Response §4.3 with the embedded contact and short account."""
    assert list(item) == RESPONSE_KEYS
    assert UUID.match(item["uuid"])
    _timestamp(item["first_shown_at"], PLAIN, nullable=False)
    _timestamp(item["last_shown_at"], PLAIN, nullable=False)
    for key in (
        "first_data_reception_at",
        "last_data_reception_at",
        "completed_at",
        "received_at",
        "dismissed_at",
    ):
        _timestamp(item[key], PLAIN)
    assert isinstance(item["show_counter"], int) and item["show_counter"] >= 1
    assert list(item["form"]) == ["uuid", "name"]
    for value in item["data"].values():
        assert value is None or isinstance(value, str | int | float | bool | list)
    contact_keys = ["uuid", "remote_id", "email", "display_name", "account"]
    assert list(item["contact"]) == contact_keys + (["attributes"] if with_attributes else [])
    account = item["contact"]["account"]
    if account is not None:
        assert list(account) == ["uuid", "remote_id", "display_name", "domain"]
    for tag in item["tags"]:
        assert list(tag) == ["uuid", "name"]


def test_root_probe(api: httpx.Client, emulator: Emulator) -> None:
    body = api.get("/").json()
    assert body == {
        "project_uuid": emulator.store.project_uuid,
        "project_name": "Production",
        "message": "Authentication successful",
    }


def test_contacts_and_contact(api: httpx.Client, emulator: Emulator) -> None:
    reply = api.get("/contacts", params={"page_length": 1000})
    assert reply.status_code == 200
    body = reply.json()
    assert list(body) == ["items", "pagination"]
    assert list(body["pagination"]) == PAGINATION_KEYS
    assert len(body["items"]) == len(emulator.store.contacts) == 60
    for item in body["items"]:
        check_contact(item)
        assert item == emulator.store.render_contact(item["uuid"])
    assert any(item["email"] is None for item in body["items"])
    assert any(item["remote_id"] is None for item in body["items"])
    assert any(item["account"] is not None for item in body["items"])
    one = body["items"][0]
    assert api.get("/contact", params={"uuid": one["uuid"]}).json() == one


def test_responses_shape(api: httpx.Client, emulator: Emulator) -> None:
    body = api.get("/responses", params={"include": "all", "page_length": 1000}).json()
    assert list(body["pagination"]) == PAGINATION_KEYS
    items = body["items"]
    assert len(items) == len(emulator.store.responses) == 400
    for item in items:
        check_response(item)
        assert item == emulator.store.render_response(item["uuid"])
    assert any(item["dismissed_at"] for item in items)
    assert any(not item["data"] and item["dismissed_at"] is None for item in items)
    assert any(item["data"] and item["completed_at"] is None for item in items)
    assert any(isinstance(v, list) for item in items for v in item["data"].values())
    assert any(len(key) >= 100 for item in items for key in item["data"])
    assert any(item["tags"] for item in items)
    with_attributes = api.get("/responses", params={"with_attributes": 1}).json()["items"]
    for item in with_attributes:
        check_response(item, with_attributes=True)
        assert isinstance(item["contact"]["attributes"], dict)


def test_forms_shape(api: httpx.Client) -> None:
    plain = api.get("/forms").json()
    assert list(plain["pagination"]) == PAGINATION_KEYS[:4]
    assert all(list(item) == ["uuid", "name"] for item in plain["items"])
    full = api.get("/forms", params={"include_info": 1, "include_config": 1}).json()["items"]
    for item in full:
        assert list(item) == [*FORM_INFO_KEYS, "config"]
        _timestamp(item["created_at"], ISO_Z, nullable=False)
        _timestamp(item["published_at"], ISO_Z)
        assert isinstance(item["responses_count"], int) and isinstance(item["views_count"], int)
        assert isinstance(item["channels"], list)
        for element in item["config"]["form_elements"]:
            assert {"id", "type", "question"} <= set(element)
    types = {e["type"] for item in full for e in item["config"]["form_elements"]}
    assert {"nps", "csat", "rating", "multiple_choice", "text"} <= types


def test_segments_history_account(api: httpx.Client, emulator: Emulator) -> None:
    segments = api.get("/segments").json()
    assert list(segments["pagination"]) == PAGINATION_KEYS
    assert all(list(s) == ["uuid", "name", "is_manual"] for s in segments["items"])
    assert any(s["is_manual"] for s in segments["items"])
    form_uuid = next(iter(emulator.store.forms))
    history = api.get("/forms/history", params={"form_uuid": form_uuid}).json()
    assert history["items"]
    for entry in history["items"]:
        assert list(entry) == ["uuid", "action", "snapshot", "created_at"]
        assert "form_elements" in entry["snapshot"]
    account = api.get("/account").json()
    assert list(account) == ["subscription", "environments"]
    subscription = account["subscription"]
    assert "mte_limit" not in subscription
    for key in ("mtu", "mpv", "msr"):
        assert isinstance(subscription[f"{key}_count"], int)
        assert isinstance(subscription[f"{key}_limit"], int)
        _timestamp(subscription[f"{key}_count_updated_at"], ISO_Z, nullable=False)
    for environment in account["environments"]:
        assert list(environment) == ["uuid", "name", "mtu", "mte", "mpv", "msr"]


def test_write_bodies_and_statuses(api: httpx.Client, emulator: Emulator) -> None:
    identify = api.post("/identify-user", json={"id": "shape-1", "email": "s@example.com"})
    assert identify.status_code == 202
    assert list(identify.json()) == ["message", "contact_uuid"]
    for path in ("/track-event", "/track"):
        tracked = api.post(path, json={"id": "shape-1", "event": "Did it"})
        assert (tracked.status_code, tracked.json()) == (202, {"message": "ok"})
    form_uuid = next(uuid for uuid, f in emulator.store.forms.items() if f["published_at"])
    stored = api.post("/responses", json={"form_uuid": form_uuid, "id": "shape-1", "nps": 9})
    assert stored.status_code == 200 and list(stored.json()) == ["message", "uuid"]
    tagged = api.post("/responses/tags", json={"uuid": stored.json()["uuid"], "tags": ["x"]})
    assert tagged.json() == {"message": "ok"}
    duplicate = api.post("/forms/duplicate", json={"form_uuid": form_uuid, "name": "Copy"})
    assert list(duplicate.json()) == ["message", "source_form_uuid", "new_form_uuid"]
    assert api.post("/forms/publish", json={"form_uuid": form_uuid}).json() == {"message": "ok"}
    assert api.delete("/forms", params={"form_uuid": form_uuid}).json() == {"message": "ok"}
    manual = next(uuid for uuid, s in emulator.store.segments.items() if s["is_manual"])
    added = api.post("/sync-segment", json={"segment_uuid": manual, "id": "shape-1"})
    assert list(added.json()) == ["message", "contact_uuid", "segment_uuid"]
    removed = api.request(
        "DELETE", "/sync-segment", params={"segment_uuid": manual, "id": "shape-1"}
    )
    assert removed.status_code == 200
    deleted = api.delete("/contact", params={"id": "shape-1"})
    assert (deleted.status_code, deleted.json()) == (200, {"message": "ok"})


def test_errors(api: httpx.Client) -> None:
    assert api.get("/contact", params={"id": "nobody"}).status_code == 404
    assert api.get("/contact", params={"id": "nobody"}).json() == {"error": "Contact not found"}
    assert api.get("/contact").status_code == 400
    assert api.get("/reporting").json() == {"error": "type is required"}
    assert api.get("/reporting", params={"type": "bogus"}).status_code == 400
    assert api.get("/responses", params={"include": "bogus"}).status_code == 400
    assert api.get("/forms", params={"list": "bogus"}).status_code == 400
    assert api.get("/responses", params={"page_cursor": "garbage"}).status_code == 400
    assert api.post("/identify-user", json={"plan": "x"}).status_code == 400
    assert api.post("/track-event", json={"id": "u"}).status_code == 400
    assert api.get("/nope").status_code == 404
    assert api.get("/forms/history", params={"form_uuid": "missing"}).status_code == 404
