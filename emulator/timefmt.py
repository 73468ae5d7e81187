"""Timestamp formats of the Refiner API (§6, §11.7), on whole UTC seconds since the epoch.

Contacts, accounts and forms use `YYYY-MM-DDTHH:MM:SS.000000Z`; responses and report ranges use
`YYYY-MM-DD HH:MM:SS`. Inputs accept dates, date-times with `T` or a space, `Z`, offsets and naive
values (read as UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

_EPOCH_DAY = date(1970, 1, 1)
_DAY_CACHE: dict[int, str] = {}


def _day(days: int) -> str:
    text = _DAY_CACHE.get(days)
    if text is None:
        text = (_EPOCH_DAY + timedelta(days=days)).isoformat()
        _DAY_CACHE[days] = text
    return text


def _clock_faces() -> list[str]:
    return [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


# "HH:MM:SS" for every second of a day: formatting is two lookups on the serving hot path.
_HMS = _clock_faces()


def iso_z(ts: int | None) -> str | None:
    """`2024-05-20T17:02:11.000000Z` (contacts, accounts, forms), or None."""
    if ts is None:
        return None
    days, second = divmod(ts, 86400)
    return f"{_DAY_CACHE.get(days) or _day(days)}T{_HMS[second]}.000000Z"


def plain(ts: int | None) -> str | None:
    """`2024-05-20 17:02:11` (responses, report ranges), or None."""
    if ts is None:
        return None
    days, second = divmod(ts, 86400)
    return f"{_DAY_CACHE.get(days) or _day(days)} {_HMS[second]}"


def to_datetime(ts: int | float) -> datetime:
    """Aware UTC datetime for epoch seconds."""
    return datetime.fromtimestamp(ts, UTC)


def parse_instant(value: Any) -> int:
    """Epoch seconds for a datetime, epoch number or ISO 8601 text; naive means UTC.

    Raises ValueError when the text is not a date or date-time.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a date-time: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if not isinstance(value, datetime):
        raise ValueError(f"not a date-time: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() // 1)


def parse_optional(value: Any) -> int | None:
    """Like parse_instant, but None and "" stay None."""
    if value is None or value == "":
        return None
    return parse_instant(value)
