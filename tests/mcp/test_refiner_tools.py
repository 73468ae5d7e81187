"""Each Refiner tool against the emulator over real HTTP: results, paging, scopes, confirm."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mcp.server import MCPServer

from emulator import Emulator
from pipelines.config import ApiSettings, make_client
from sources.refiner.models import to_builtins
from tests.mcp.helpers import SENTINEL_KEY, MakeServer, audit_lines, call, error_text, ok


def _walk(server: MCPServer[Any], tool: str, **arguments: Any) -> list[dict[str, Any]]:
    """Every page of a list tool, following next_cursor until it is null."""
    pages = []
    cursor = None
    while True:
        page = ok(call(server, tool, page_cursor=cursor, **arguments))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def _known_contact(api: Emulator) -> Any:
    return next(c for c in api.store.contact_records.values() if c.remote_id and c.email)


def test_get_account_info(api: Emulator, make_server: MakeServer) -> None:
    info = ok(call(make_server(), "get_account_info"))
    assert info["subscription"]["plan"]
    assert api.store.project_uuid in {env["uuid"] for env in info["environments"]}


def test_get_contact_by_each_identifier(api: Emulator, make_server: MakeServer) -> None:
    server = make_server()
    person = _known_contact(api)
    expected = api.store.render_contact(person.uuid)
    for arguments in ({"uuid": person.uuid}, {"id": person.remote_id}, {"email": person.email}):
        contact = ok(call(server, "get_contact", **arguments))
        assert contact["uuid"] == person.uuid
        assert contact["email"] == expected["email"]
        assert contact["remote_id"] == expected["remote_id"]
        assert {s["uuid"] for s in contact["segments"]} == {s["uuid"] for s in expected["segments"]}


def test_get_contact_errors_are_one_line_tool_errors(
    api: Emulator, make_server: MakeServer
) -> None:
    server = make_server()
    missing = call(server, "get_contact", id="nobody-has-this-id")
    assert missing.is_error and "not found" in error_text(missing).lower()
    assert "\n" not in error_text(missing)
    api.request_log.clear()
    two = call(server, "get_contact", id="a", email="a@example.com")
    assert two.is_error and "exactly one" in error_text(two).lower()
    assert api.request_log.entries() == []


def test_get_contacts_pages_to_the_end(api: Emulator, make_server: MakeServer) -> None:
    pages = _walk(make_server(), "get_contacts", page_length=7)
    uuids = [item["uuid"] for page in pages for item in page["items"]]
    assert len(uuids) == len(set(uuids)) == len(api.store.contacts)
    assert set(uuids) == set(api.store.contacts)
    assert len(pages) == math.ceil(len(api.store.contacts) / 7)
    assert {page["items_count"] for page in pages} == {len(api.store.contacts)}
    requests = api.request_log.filter("GET", "/contacts")
    assert [e.params.get("page_cursor") for e in requests][1:] == [
        page["next_cursor"] for page in pages[:-1]
    ]


def test_get_contacts_filters_reach_the_api(api: Emulator, make_server: MakeServer) -> None:
    segment = next(iter(api.store.segments))
    pages = _walk(
        make_server(),
        "get_contacts",
        segment_uuid=segment,
        order_by="last_seen_at",
        page_length=1000,
    )
    assert pages[0]["items"]
    for contact in pages[0]["items"]:
        assert segment in {s["uuid"] for s in contact["segments"]}
    last = api.request_log.entries()[-1]
    assert last.params["segment_uuid"] == segment and last.params["order_by"] == "last_seen_at"


def test_get_survey_responses_pages_to_the_end(api: Emulator, make_server: MakeServer) -> None:
    pages = _walk(make_server(), "get_survey_responses", include="all", page_length=90)
    uuids = [item["uuid"] for page in pages for item in page["items"]]
    assert len(uuids) == len(set(uuids)) == len(api.store.response_records)
    first = pages[0]["items"][0]
    assert first == to_builtins_response(api, first["uuid"])


def to_builtins_response(api: Emulator, uuid: str) -> dict[str, Any]:
    """The emulator's own rendering of a response, decoded as the tool decodes it."""
    from sources.refiner.models import Response, decode

    return dict(to_builtins(decode(Response, api.store.render_response(uuid))))


def test_get_survey_responses_filters(api: Emulator, make_server: MakeServer) -> None:
    form = next(iter(api.store.form_records))
    page = ok(
        call(
            make_server(),
            "get_survey_responses",
            include="partials",
            form_uuids=[form],
            with_attributes=True,
            page_length=5,
        )
    )
    assert page["items"]
    assert all(item["form"]["uuid"] == form for item in page["items"])
    sent = api.request_log.filter("GET", "/responses")[-1].params
    assert sent["include"] == "partials" and sent["with_attributes"] in ("1", 1, True)


def test_get_segments_pages_to_the_end(api: Emulator, make_server: MakeServer) -> None:
    pages = _walk(make_server(), "get_segments", page_length=2)
    names = {item["uuid"]: item["name"] for page in pages for item in page["items"]}
    assert set(names) == set(api.store.segments)
    assert len(pages) == math.ceil(len(api.store.segments) / 2)


def test_get_forms_pages_to_the_end(api: Emulator, make_server: MakeServer) -> None:
    server = make_server()
    every = _walk(server, "get_forms", list="all_with_archived", page_length=2, include_info=True)
    uuids = [item["uuid"] for page in every for item in page["items"]]
    assert sorted(uuids) == sorted(api.store.form_records)
    assert all("responses_count" in item for page in every for item in page["items"])
    live = _walk(server, "get_forms", page_length=2)
    archived = {u for u, f in api.store.form_records.items() if f.archived_at is not None}
    assert archived and {i["uuid"] for p in live for i in p["items"]} == set(uuids) - archived
    bad = call(server, "get_forms", page_cursor="not-a-page")
    assert bad.is_error and "next_cursor" in error_text(bad)


def test_get_reporting_matches_the_client(api: Emulator, make_server: MakeServer) -> None:
    form = next(iter(api.store.form_records))
    arguments: dict[str, Any] = {
        "form_uuids": [form],
        "date_range_start": "2000-01-01",
        "date_range_end": "2100-01-01",
    }
    report = ok(call(make_server(), "get_reporting", type="nps", **arguments))
    with make_client(ApiSettings(SENTINEL_KEY, api.base_url)) as client:
        assert report == to_builtins(client.get_reporting("nps", **arguments))
    assert report["type"] == "nps" and report["count"] > 0
    invalid = call(make_server(), "get_reporting", type="median")
    assert invalid.is_error


def test_page_length_bound_is_enforced_before_any_request(
    api: Emulator, make_server: MakeServer
) -> None:
    api.request_log.clear()
    result = call(make_server(), "get_contacts", page_length=1001)
    assert result.is_error and "page_length" in error_text(result)
    assert api.request_log.entries() == []


def test_update_contact_and_track_event(api: Emulator, make_server: MakeServer) -> None:
    server = make_server(allow="read,write")
    result = ok(
        call(
            server,
            "update_contact",
            id="mcp-user-1",
            email="mcp-user-1@example.com",
            traits={"plan": "pro", "seats": 12, "beta": True},
            account={"id": "acme", "name": "Acme"},
        )
    )
    person = api.store.find_contact(remote_id="mcp-user-1")
    assert person is not None and result["contact_uuid"] == person.uuid
    assert {k: person.traits[k] for k in ("plan", "seats", "beta")} == {
        "plan": "pro",
        "seats": 12,
        "beta": True,
    }
    ok(call(server, "track_event", event="Upgraded plan", id="mcp-user-1"))
    assert [e["event"] for e in api.store.events if e["contact_uuid"] == person.uuid] == [
        "Upgraded plan"
    ]


def test_writes_outside_the_scopes_are_refused_and_send_nothing(
    api: Emulator, make_server: MakeServer, audit_path: Path
) -> None:
    server = make_server()
    person = _known_contact(api)
    api.request_log.clear()
    attempts = [
        ("update_contact", {"id": person.remote_id, "traits": {"plan": "free"}}),
        ("track_event", {"event": "Churned", "id": person.remote_id}),
        ("delete_contact", {"uuid": person.uuid, "confirm": True}),
    ]
    for tool, arguments in attempts:
        result = call(server, tool, **arguments)
        assert result.is_error and "outside this server's scopes" in error_text(result)
    assert api.request_log.entries() == []
    assert person.uuid in api.store.contact_records
    assert [(line["tool"], line["outcome"]) for line in audit_lines(audit_path)] == [
        (tool, "refused") for tool, _ in attempts
    ]


def test_delete_contact_needs_confirm(
    api: Emulator, make_server: MakeServer, audit_path: Path
) -> None:
    server = make_server(allow="read,write,delete")
    person = _known_contact(api)
    api.request_log.clear()
    for arguments in ({}, {"confirm": False}):
        refused = call(server, "delete_contact", uuid=person.uuid, **arguments)
        assert refused.is_error and "confirm: true" in error_text(refused)
    assert api.request_log.entries() == []
    assert person.uuid in api.store.contact_records
    ok(call(server, "delete_contact", uuid=person.uuid, confirm=True))
    assert person.uuid not in api.store.contact_records
    assert [(e.method, e.path) for e in api.request_log.entries()] == [("DELETE", "/contact")]
    assert [line["outcome"] for line in audit_lines(audit_path)] == ["refused", "refused", "ok"]


def test_sql_tools_outside_the_scopes_when_sql_is_off(make_server: MakeServer) -> None:
    result = call(make_server(sql=False), "query_warehouse", sql="SELECT 1")
    assert result.is_error and "--sql" in error_text(result)
