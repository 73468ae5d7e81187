"""`refiner tools` without a server: help, value typing, usage and config errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipelines.cli.tools import _pairs, _typed

TOOLS = [
    "get-account-info",
    "get-contacts",
    "get-contact",
    "update-contact",
    "delete-contact",
    "track-event",
    "get-forms",
    "get-responses",
    "get-segments",
    "get-reporting",
]


def test_every_tool_is_listed(run_cli: Callable[..., Any]) -> None:
    result = run_cli("tools", "--help")
    assert result.code == 0
    for tool in TOOLS:
        assert tool in result.stdout


@pytest.mark.parametrize(
    ("tool", "options"),
    [
        (
            "get-contacts",
            [
                "--order-by",
                "--form-uuid",
                "--segment-uuid",
                "--page-length",
                "--all",
                "--page-cursor",
            ],
        ),
        ("get-contact", ["--id", "--email", "--uuid"]),
        ("update-contact", ["--id", "--email", "--trait", "--account"]),
        ("delete-contact", ["--id", "--email", "--uuid"]),
        ("track-event", ["--event", "--id", "--email"]),
        ("get-forms", ["--list", "--include-info", "--include-config", "--page"]),
        (
            "get-responses",
            [
                "--include",
                "--date-range-start",
                "--date-range-end",
                "--form-uuid",
                "--form-uuids",
                "--segment-uuid",
                "--segment-uuids",
                "--with-attributes",
                "--tag-uuid",
                "--search",
            ],
        ),
        ("get-segments", ["--page-length", "--all"]),
        (
            "get-reporting",
            ["--type", "--question-identifiers", "--tag-uuids", "--form-uuids", "--segment-uuids"],
        ),
        ("get-account-info", ["--api-key", "--base-url"]),
    ],
)
def test_each_tool_explains_itself(
    run_cli: Callable[..., Any], tool: str, options: list[str]
) -> None:
    result = run_cli("tools", tool, "--help")
    assert result.code == 0
    for option in options:
        assert option in result.stdout


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("pro", "pro"),
        ("12", 12),
        ("-3", -3),
        ("4.5", 4.5),
        ("true", True),
        ("False", False),
        ("null", None),
        ('"12"', "12"),
        ("", ""),
        ("2024-05-01", "2024-05-01"),
        ("a=b", "a=b"),
    ],
)
def test_values_are_typed(raw: str, value: Any) -> None:
    assert _typed(raw) == value
    assert type(_typed(raw)) is type(value)


def test_pairs() -> None:
    assert _pairs("--trait", ["plan=pro", "seats=3", "note=a=b"]) == {
        "plan": "pro",
        "seats": 3,
        "note": "a=b",
    }


@pytest.mark.parametrize("bad", ["plan", "=pro"])
def test_bad_pair_is_a_usage_error(run_cli: Callable[..., Any], bad: str) -> None:
    result = run_cli(
        "tools",
        "update-contact",
        "--api-key",
        "k",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--id",
        "u1",
        "--trait",
        bad,
    )
    assert result.code == 2
    assert "name=value" in result.stderr


def test_missing_key_exits_2_with_the_fix(run_cli: Callable[..., Any], dlt_project: object) -> None:
    result = run_cli("tools", "get-account-info")
    assert result.code == 2
    assert "SOURCES__REFINER__API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_validation_error_exits_2_before_any_request(run_cli: Callable[..., Any]) -> None:
    # Port 9 (discard) has nothing listening: any request would fail with exit code 1.
    result = run_cli(
        "tools", "get-contact", "--api-key", "k", "--base-url", "http://127.0.0.1:9/v1"
    )
    assert result.code == 2
    assert "get_contact: pass one of `id`, `email`, `uuid`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_server_exits_1_in_one_line(
    run_cli: Callable[..., Any], dlt_project: object
) -> None:
    import os

    os.environ["SOURCES__REFINER__MAX_ATTEMPTS"] = "1"
    result = run_cli(
        "tools", "get-account-info", "--api-key", "k", "--base-url", "http://127.0.0.1:9/v1"
    )
    assert result.code == 1
    assert result.stderr.startswith("Error: Could not complete the request to Refiner")
    assert "Traceback" not in result.stderr
