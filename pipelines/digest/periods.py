"""Digest periods: a calendar day or an ISO week (Monday to Sunday) in a time zone.

A response belongs to the day of its `completed_at` in the digest's time zone, so a period is
the half-open interval of instants [start, end) between two local midnights, converted to UTC.
Daylight-saving changes make such a day 23 or 25 hours long; zoneinfo handles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.errors import ConfigError

PeriodKind = Literal["day", "week"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("day", "week")
TREND_DAYS = 30


@dataclass(frozen=True)
class Period:
    """Local days `first_day`..`last_day` (inclusive) in `timezone`, and their UTC bounds."""

    kind: PeriodKind
    first_day: date
    last_day: date
    timezone: str

    @property
    def start(self) -> datetime:
        """The first instant of the period (UTC)."""
        return _midnight(self.first_day, self.timezone)

    @property
    def end(self) -> datetime:
        """The first instant after the period (UTC)."""
        return _midnight(self.last_day + timedelta(days=1), self.timezone)

    @property
    def label(self) -> str:
        """`Friday 4 December 2026` or `week 49 of 2026 (30 Nov to 6 Dec)`."""
        if self.kind == "day":
            return f"{self.first_day:%A} {self.first_day.day} {self.first_day:%B %Y}"
        year, week, _ = self.first_day.isocalendar()
        return (
            f"week {week} of {year} ({self.first_day.day} {self.first_day:%b} to "
            f"{self.last_day.day} {self.last_day:%b})"
        )

    @property
    def phrase(self) -> str:
        """The label after a preposition: `on Friday 4 December 2026`, `in week 49 ...`."""
        return f"{'on' if self.kind == 'day' else 'in'} {self.label}"

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        days = (self.last_day - self.first_day).days + 1
        shift = timedelta(days=days)
        return Period(self.kind, self.first_day - shift, self.last_day - shift, self.timezone)

    def trend_start(self) -> datetime:
        """The first instant of the TREND_DAYS local days that end with this period."""
        return _midnight(self.last_day - timedelta(days=TREND_DAYS - 1), self.timezone)


def check_timezone(name: str) -> str:
    """`name` if it is an IANA time zone (Europe/Berlin, UTC); ConfigError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"Unknown time zone {name!r}; use an IANA name such as UTC or Europe/Berlin."
        ) from None
    return name


def resolve_period(
    kind: str, day: date | None, timezone: str, now: datetime | None = None
) -> Period:
    """The period of `kind` that holds `day`; without `day`, yesterday (local) or last week.

    `now` (default: the current time) decides what "yesterday" is in `timezone`.
    """
    if kind not in PERIOD_KINDS:
        raise ConfigError(f"--period must be one of {', '.join(PERIOD_KINDS)}; got {kind!r}.")
    zone = ZoneInfo(check_timezone(timezone))
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    if kind == "day":
        chosen = day or today - timedelta(days=1)
        return Period("day", chosen, chosen, timezone)
    anchor = day or today - timedelta(days=7)
    monday = anchor - timedelta(days=anchor.weekday())
    return Period("week", monday, monday + timedelta(days=6), timezone)


def _midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
