"""Helpers of the query tests: a warehouse built the way a user builds it (the emulator, then
`run_load` and `run_transform`), the CLI run in-process, and ground truth from the emulator."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig


def query_seed() -> SeedConfig:
    """Small, with every question type and the emulator's unicode and multi-line answers."""
    return SeedConfig(
        seed=11, contacts=60, accounts=12, forms=6, segments=4, responses=400, days=30
    )


@contextmanager
def refiner_env(emulator: Emulator, **extra: str) -> Iterator[None]:
    """The environment a user sets to load completed responses from `emulator`."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
            "SOURCES__REFINER__BASE_URL": emulator.base_url,
            "SOURCES__REFINER__INCLUDE": "completed",
            "SOURCES__REFINER__START_DATE": "2024-01-01",
            **extra,
        }.items():
            patch.setenv(name, value)
        yield


def build_warehouse(
    emulator: Emulator, directory: Path, destination: str, duckdb_path: Path | None = None
) -> None:
    """`refiner load` and `refiner transform` into `destination` (postgres: credentials from
    DESTINATION__POSTGRES__CREDENTIALS, set by the caller)."""
    from pipelines.load.run import run_load
    from pipelines.transform import run_transform

    run_load(
        destination=destination,
        duckdb_path=duckdb_path,
        pipelines_dir=directory / "dlt",
        api_key=DEFAULT_API_KEY,
        base_url=emulator.base_url,
    )
    run_transform(
        destination,
        duckdb_path or "refiner.duckdb",
        responses_include="completed",
        target_path=directory / "dbt",
        quiet=True,
    )


def file_digest(path: Path) -> str:
    """SHA-256 of a file: a read-only query must leave a DuckDB file byte for byte as it was."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def writer_holding(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with the DuckDB file open for writing, as `refiner load` holds it."""
    script = textwrap.dedent(
        f"""
        import sys, time, duckdb
        connection = duckdb.connect({str(path)!r})
        connection.execute("CREATE TABLE IF NOT EXISTS writer_marker AS SELECT 1 AS x")
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


# ------------------------------------------------------------------ ground truth


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)


def expected_nps_by_week(emulator: Emulator) -> dict[tuple[str, date], dict[str, Any]]:
    """(form name, Monday of the UTC week) -> promoters, passives, detractors, responses and
    NPS rounded to one decimal, half away from zero; from the completed responses' answers."""
    types = {
        (uuid, element["id"]): element["type"]
        for uuid, form in emulator.store.forms.items()
        for element in form["config"]["form_elements"]
    }
    counts: dict[tuple[str, date], dict[str, int]] = defaultdict(
        lambda: {"promoters": 0, "passives": 0, "detractors": 0}
    )
    for response in emulator.store.responses.values():
        at = _instant(response["last_data_reception_at"])
        if not response["completed_at"] or at is None:
            continue
        form_uuid = response["form"]["uuid"]
        for key, value in response["data"].items():
            if types.get((form_uuid, key)) != "nps" or isinstance(value, bool) or value is None:
                continue
            score = float(value)
            bucket = "promoters" if score >= 9 else "detractors" if score <= 6 else "passives"
            day = at.date()
            name = emulator.store.forms[form_uuid]["name"]
            counts[(name, day - timedelta(days=day.weekday()))][bucket] += 1
    expected = {}
    for key, row in counts.items():
        total = sum(row.values())
        nps = Fraction(100 * (row["promoters"] - row["detractors"]), total)
        expected[key] = {**row, "responses": total, "nps": _round_half_away(nps)}
    return expected


def assert_nps_by_week(json_lines: str, emulator: Emulator) -> None:
    """The JSON Lines of `refiner sql nps-by-week` hold exactly the emulator's weekly NPS."""
    actual = {}
    for line in json_lines.splitlines():
        record = json.loads(line)
        actual[(record.pop("form_name"), record.pop("week_start"))] = record
    expected = {
        (name, week.isoformat()): values
        for (name, week), values in expected_nps_by_week(emulator).items()
    }
    assert actual.keys() == expected.keys()
    for key, values in expected.items():
        assert actual[key] == pytest.approx(values, abs=1e-9), key


def _round_half_away(value: Fraction) -> float:
    scaled = abs(value) * 10
    rounded = int(scaled) + (1 if scaled - int(scaled) >= Fraction(1, 2) else 0)
    return (rounded if value >= 0 else -rounded) / 10


@dataclass(frozen=True)
class Loaded:
    """A warehouse `refiner load` + `refiner transform` built from `emulator`."""

    emulator: Emulator
    path: Path


KNOWN_ROWS = [
    (1, "plain", "2024-05-01 10:00:00+00", 1.5),
    (2, 'comma, "quotes" and ünïcödé 👏', "2024-05-02 23:59:59.5+00", None),
    (3, "line one\nline two\r\nthree", "2024-05-03 00:00:00+00", -2.25),
    (4, None, None, 0.0),
]
