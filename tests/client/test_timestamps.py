"""parse_timestamp and friends: every Refiner format lands on the right UTC instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from sources.refiner.timestamps import (
    ensure_utc,
    format_query_timestamp,
    parse_optional_timestamp,
    parse_timestamp,
)

INSTANT = datetime(2024, 5, 20, 17, 2, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-20T17:02:11.000000Z",  # contacts and accounts
        "2024-05-20 17:02:11",  # responses: no zone, read as UTC
        "2024-05-20T17:02:11",
        "2024-05-20T17:02:11Z",
        "2024-05-20T19:02:11+02:00",
        "2024-05-20T19:02:11.000+0200",
        "2024-05-20T12:02:11-05:00",
        "  2024-05-20 17:02:11  ",
    ],
)
def test_every_format_is_the_same_utc_instant(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed == INSTANT
    assert parsed.tzinfo is UTC


def test_fractions_and_dates() -> None:
    assert parse_timestamp("2024-05-20T17:02:11.123456Z").microsecond == 123456
    assert parse_timestamp("2024-05-20") == datetime(2024, 5, 20, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "20/05/2024", "2024-05-20T25:00"])
def test_garbage_is_refused_with_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        parse_timestamp(text)


def test_optional() -> None:
    assert parse_optional_timestamp(None) is None
    assert parse_optional_timestamp(" ") is None
    assert parse_optional_timestamp("2024-05-20 17:02:11") == INSTANT


def test_ensure_utc() -> None:
    assert ensure_utc(datetime(2024, 5, 20, 17, 2, 11)) == INSTANT
    plus_two = datetime(2024, 5, 20, 19, 2, 11, tzinfo=timezone(timedelta(hours=2)))
    assert ensure_utc(plus_two).hour == 17
    assert ensure_utc(plus_two).tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2024, 5, 20), "2024-05-20"),
        ("2024-05-20", "2024-05-20"),
        (INSTANT, "2024-05-20T17:02:11Z"),
        (datetime(2024, 5, 20, 17, 2, 11), "2024-05-20T17:02:11Z"),
        ("2024-05-20T19:02:11+02:00", "2024-05-20T17:02:11Z"),
        ("2024-05-20 17:02:11.5", "2024-05-20T17:02:11.500000Z"),
    ],
)
def test_query_format(value: str | date | datetime, expected: str) -> None:
    assert format_query_timestamp(value) == expected
