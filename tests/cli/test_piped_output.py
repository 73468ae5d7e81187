"""Output that pipes: what `refiner` writes when stdout is a pipe or a file, not a terminal.

- `push-traits --dry-run` and `push-events --dry-run`: one JSON object per line, never wrapped;
- `refiner transform`: no ANSI colour, dbt's output included, unless on a terminal without
  NO_COLOR;
- a load with nothing new: every table of the loaded resources with 0 rows, and "nothing new".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from tests.cli.processes import run_on_terminal, run_piped

LONG_NOTE = "a note with spaces, long enough that any wrapping at 80 columns would cut it " * 3
ANSI = "\x1b["


def _trait_table(path: Path) -> None:
    """refiner_analytics.contact_traits with three rows whose payloads exceed 80 columns."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema refiner_analytics")
        connection.execute(
            "create table refiner_analytics.contact_traits "
            "(remote_id varchar, email varchar, note varchar, seats integer)"
        )
        connection.executemany(
            "insert into refiner_analytics.contact_traits values (?, ?, ?, ?)",
            [[f"user-{n}", f"user-{n}@example.com", f"{LONG_NOTE}{n}", n] for n in range(3)]
            + [[None, None, "no identifier", 1]],
        )
        connection.execute("create schema events")
        connection.execute(
            "create table events.upgrades as select 'user-1' as identifier, "
            "'Upgraded to the yearly plan with every add-on' as event, 'upgrade-1' as row_key"
        )


def _json_lines(stdout: str) -> list[dict[str, Any]]:
    lines = stdout.splitlines()
    assert lines, "nothing on stdout"
    return [json.loads(line) for line in lines]


def test_push_traits_dry_run_piped_is_one_json_object_per_line(tmp_path: Path) -> None:
    database = tmp_path / "refiner.duckdb"
    _trait_table(database)

    run = run_piped(["push-traits", "--dry-run", "--duckdb-path", str(database)])

    assert run.code == 0, run.stderr
    summary, *rest = _json_lines(run.stdout)
    assert summary == {
        "dry_run": "push-traits", "sync_name": "contact_traits",
        "new": 3, "changed": 0, "unchanged": 0, "invalid": 1, "skipped": 0,
    }  # fmt: skip
    samples = [line["sample"] for line in rest if "sample" in line]
    assert samples == [{"id": f"user-{n}", "note": f"{LONG_NOTE}{n}", "seats": n} for n in range(3)]
    invalid = [line["invalid"] for line in rest if "invalid" in line]
    assert len(invalid) == 1 and invalid[0]["reason"]
    assert len(rest) == len(samples) + len(invalid)
    assert max(len(line) for line in run.stdout.splitlines()) > 200


def test_push_events_dry_run_piped_is_one_json_object_per_line(tmp_path: Path) -> None:
    database = tmp_path / "refiner.duckdb"
    _trait_table(database)

    run = run_piped(
        ["push-events", "--dry-run", "--duckdb-path", str(database),
         "--sql", "select identifier, event, row_key from events.upgrades"]
    )  # fmt: skip

    assert run.code == 0, run.stderr
    assert _json_lines(run.stdout) == [
        {"dry_run": "push-events", "new": 1, "already_sent": 0, "invalid": 0},
        {
            "sample": {
                "row_key": "upgrade-1",
                "id": "user-1",
                "event": "Upgraded to the yearly plan with every add-on",
            }
        },
    ]


def test_dry_run_on_a_terminal_stays_a_table(tmp_path: Path) -> None:
    database = tmp_path / "refiner.duckdb"
    _trait_table(database)

    run = run_on_terminal(["push-traits", "--dry-run", "--duckdb-path", str(database)])

    assert run.code == 0, run.stdout + run.stderr
    assert "push-traits dry run" in run.stdout and "nothing sent" in run.stdout
    assert "skipped (no traits)" in run.stdout
    assert '"dry_run"' not in run.stdout


# ------------------------------------------------------------------ loads and transforms


@dataclass(frozen=True)
class Loaded:
    emulator: Emulator
    database: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """A small emulator, loaded once into a DuckDB file by a piped `refiner load`."""
    directory = tmp_path_factory.mktemp("piped")
    seed = SeedConfig(seed=5, contacts=40, accounts=8, forms=4, segments=3, responses=200, days=20)
    with Emulator(seed=seed) as emulator:
        env = {
            "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
            "SOURCES__REFINER__BASE_URL": emulator.base_url,
            "SOURCES__REFINER__REPORTING_DAYS": "3",
            "DLT_DATA_DIR": str(directory / "dlt"),
        }
        database = directory / "refiner.duckdb"
        first = run_piped(["load", "--duckdb-path", str(database)], env)
        assert first.code == 0, first.stderr
        assert "nothing new" not in first.stdout
        yield Loaded(emulator, database, env)


def _rows_loaded(stdout: str) -> dict[str, int]:
    """table -> rows loaded, from the summary table's lines."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) >= 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return rows


def test_a_load_with_nothing_new_lists_its_tables_with_zero_rows(loaded: Loaded) -> None:
    contacts_only = run_piped(
        ["load", "--duckdb-path", str(loaded.database), "--resources", "contacts"], loaded.env
    )
    assert contacts_only.code == 0, contacts_only.stderr
    assert _rows_loaded(contacts_only.stdout) == {
        "contacts": 0, "contact_attributes": 0, "contact_segments": 0
    }  # fmt: skip
    assert "nothing new" in contacts_only.stdout.splitlines()

    everything = run_piped(["load", "--duckdb-path", str(loaded.database)], loaded.env)
    assert everything.code == 0, everything.stderr
    rows = _rows_loaded(everything.stdout)
    assert rows["account_usage"] == 1
    assert {name: count for name, count in rows.items() if not name.startswith("account_")} == {
        name: 0
        for name in (
            "contacts", "contact_attributes", "contact_segments", "forms", "responses",
            "response_answers", "segments", "reporting",
        )
    }  # fmt: skip
    assert "nothing new: only the account_usage snapshot" in everything.stdout.splitlines()


def test_transform_colours_only_a_terminal_without_no_color(loaded: Loaded) -> None:
    args = ["transform", "--duckdb-path", str(loaded.database)]

    piped = run_piped(args)
    assert piped.code == 0, piped.stdout + piped.stderr
    assert "Completed successfully" in piped.stdout
    assert ANSI not in piped.stdout + piped.stderr

    no_color = run_on_terminal(args, {"NO_COLOR": "1"})
    assert no_color.code == 0, no_color.stdout + no_color.stderr
    assert "Completed successfully" in no_color.stdout
    assert ANSI not in no_color.stdout

    terminal = run_on_terminal(args)
    assert terminal.code == 0, terminal.stdout + terminal.stderr
    assert ANSI in terminal.stdout
