"""Periods in a time zone: yesterday, weeks, and daylight-saving days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.digest.periods import resolve_period
from pipelines.errors import ConfigError


def test_yesterday_is_local() -> None:
    # 23:30 UTC on 4 December is 00:30 on 5 December in Berlin: yesterday is the 4th there.
    now = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    assert resolve_period("day", None, "Europe/Berlin", now).first_day == date(2026, 12, 4)
    assert resolve_period("day", None, "UTC", now).first_day == date(2026, 12, 3)


def test_day_bounds_are_local_midnights_in_utc() -> None:
    period = resolve_period("day", date(2026, 3, 10), "Europe/Berlin")
    assert period.start == datetime(2026, 3, 9, 23, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 10, 23, tzinfo=UTC)
    assert period.previous().end == period.start


def test_daylight_saving_day_has_23_hours() -> None:
    period = resolve_period("day", date(2026, 3, 29), "Europe/Berlin")
    assert period.end - period.start == timedelta(hours=23)
    autumn = resolve_period("day", date(2026, 10, 25), "Europe/Berlin")
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_weeks_run_monday_to_sunday() -> None:
    period = resolve_period("week", date(2026, 3, 12), "UTC")
    assert (period.first_day, period.last_day) == (date(2026, 3, 9), date(2026, 3, 15))
    assert period.label == "week 11 of 2026 (9 Mar to 15 Mar)"
    previous = period.previous()
    assert (previous.first_day, previous.last_day) == (date(2026, 3, 2), date(2026, 3, 8))
    # By default the last complete week: on Wednesday 18 March, the week of 9 to 15 March.
    now = datetime(2026, 3, 18, 9, tzinfo=UTC)
    assert resolve_period("week", None, "UTC", now) == period


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown time zone 'Nowhere/Land'"):
        resolve_period("day", None, "Nowhere/Land")
