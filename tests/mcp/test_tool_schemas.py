"""The tool list per scope, and what each tool's schema and annotations promise a client."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mcp.helpers import READS, WAREHOUSE, WRITES, MakeServer, list_tools


@pytest.mark.parametrize(
    ("allow", "sql", "expected"),
    [
        ("read", True, READS | WAREHOUSE),
        ("read,write", True, READS | WAREHOUSE | WRITES),
        ("read,write,delete", True, READS | WAREHOUSE | WRITES | {"delete_contact"}),
        ("delete", True, READS | WAREHOUSE | {"delete_contact"}),
        ("read", False, READS),
        ("read,sql", True, READS | WAREHOUSE),
    ],
)
def test_tools_listed_per_scope(
    make_server: MakeServer, allow: str, sql: bool, expected: set[str]
) -> None:
    assert set(list_tools(make_server(allow=allow, sql=sql))) == expected


def test_default_lists_nine_and_all_scopes_twelve(make_server: MakeServer) -> None:
    assert len(list_tools(make_server())) == 9
    assert len(list_tools(make_server(allow="read,write,delete"))) == 12


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["properties"]


def _enum(prop: dict[str, Any]) -> list[str]:
    return prop.get("enum") or next(a["enum"] for a in prop["anyOf"] if "enum" in a)


def test_input_schemas_have_enums_bounds_and_descriptions(make_server: MakeServer) -> None:
    tools = list_tools(make_server(allow="read,write,delete"))
    reporting = _properties(tools["get_reporting"].input_schema)
    assert _enum(reporting["type"]) == ["nps", "csat", "ratings", "distribution", "count"]
    assert tools["get_reporting"].input_schema["required"] == ["type"]
    forms = _properties(tools["get_forms"].input_schema)
    assert _enum(forms["list"]) == [
        "all",
        "published",
        "drafts",
        "archived",
        "all_with_archived",
    ]
    responses = _properties(tools["get_survey_responses"].input_schema)
    assert _enum(responses["include"]) == ["completed", "partials", "all"]
    contacts = _properties(tools["get_contacts"].input_schema)
    assert _enum(contacts["order_by"]) == [
        "first_seen_at",
        "last_seen_at",
        "last_form_submission_at",
    ]
    for name in ("get_contacts", "get_survey_responses", "get_segments", "get_forms"):
        props = _properties(tools[name].input_schema)
        assert (props["page_length"]["minimum"], props["page_length"]["maximum"]) == (1, 1000)
        assert props["page_length"]["default"] == 50
        assert "page_cursor" in props
    query = _properties(tools["query_warehouse"].input_schema)
    assert query["max_rows"]["default"] == 200 and query["max_rows"]["maximum"] == 1000
    assert _properties(tools["delete_contact"].input_schema)["confirm"]["default"] is False
    assert tools["track_event"].input_schema["required"] == ["event"]
    for tool in tools.values():
        assert tool.description, tool.name
        for name, prop in _properties(tool.input_schema).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"


def test_arguments_are_named_as_the_cli_options(make_server: MakeServer) -> None:
    tools = list_tools(make_server(allow="read,write,delete"))
    assert set(_properties(tools["get_contact"].input_schema)) == {"id", "email", "uuid"}
    assert set(_properties(tools["delete_contact"].input_schema)) == {
        "id",
        "email",
        "uuid",
        "confirm",
    }
    assert set(_properties(tools["get_survey_responses"].input_schema)) == {
        "include",
        "date_range_start",
        "date_range_end",
        "form_uuid",
        "form_uuids",
        "segment_uuid",
        "segment_uuids",
        "tag_uuid",
        "search",
        "with_attributes",
        "page_length",
        "page_cursor",
    }


def test_results_are_structured_with_an_output_schema(make_server: MakeServer) -> None:
    tools = list_tools(make_server(allow="read,write,delete"))
    for tool in tools.values():
        assert tool.output_schema is not None, tool.name
    page = tools["get_contacts"].output_schema
    assert page is not None
    assert set(page["properties"]) == {"items", "next_cursor", "items_count"}


def test_annotations(make_server: MakeServer) -> None:
    tools = list_tools(make_server(allow="read,write,delete"))
    for name in READS | WAREHOUSE:
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is True, name
    for name in WRITES:
        annotations = tools[name].annotations
        assert annotations is not None
        assert annotations.read_only_hint is False and annotations.destructive_hint is False
    delete = tools["delete_contact"].annotations
    assert delete is not None
    assert delete.read_only_hint is False and delete.destructive_hint is True
