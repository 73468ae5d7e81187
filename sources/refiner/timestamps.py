"""Timestamps in and out of the Refiner API.

Refiner emits two formats (refiner-api.md §6): contacts and accounts as
`2024-05-20T17:02:11.000000Z`, responses as `2024-05-20 17:02:11` with no zone. Zone-less
values are UTC (settings.NAIVE_TIMESTAMPS_ARE_UTC). Everything this module returns is a
timezone-aware datetime in UTC, so equal instants compare equal whatever format they came in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

_DATE_ONLY_LENGTH = len("2024-05-20")


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 date or date-time into an aware UTC datetime.

    Accepts `...Z`, explicit offsets such as `+02:00`, zone-less values (read as UTC), a space
    or `T` between date and time, fractions of a second, and a bare date (midnight UTC).
    Raises ValueError with the offending value when the text is not a timestamp.
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    return ensure_utc(parsed)


def parse_optional_timestamp(value: str | None) -> datetime | None:
    """`parse_timestamp` that passes None and empty strings through as None."""
    if value is None or not value.strip():
        return None
    return parse_timestamp(value)


def ensure_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_query_timestamp(value: str | date | datetime) -> str:
    """Render a date-range bound the way Refiner accepts it (refiner-api.md §6).

    A date (or a date-only string) stays `YYYY-MM-DD`; anything with a time becomes UTC
    `YYYY-MM-DDTHH:MM:SSZ` (with microseconds when present). Raises ValueError for text that
    is not a timestamp, so bad input fails before a request is sent.
    """
    if isinstance(value, datetime):
        return _format_utc(ensure_utc(value))
    if isinstance(value, date):
        return value.isoformat()
    parsed = parse_timestamp(value)
    if len(value.strip()) == _DATE_ONLY_LENGTH:
        return parsed.date().isoformat()
    return _format_utc(parsed)


def _format_utc(value: datetime) -> str:
    timespec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
