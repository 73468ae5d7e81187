"""A PostgreSQL warehouse that cannot be reached: every command says so in one line.

The line quotes psycopg2's first line (host and port), says what to do, and never shows the
password. Nothing is lost: a load keeps what it extracted for the next run (tests/load/
test_faults.py, s06, shows that run loading it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.cli_run import run_refiner
from tests.ports import free_port

SENTINEL_PASSWORD = "pw-sentinel-7f3a9c1e"
COMMANDS = {
    "load": ["load"],
    "transform": ["transform"],
    "push-traits": ["push-traits", "--dry-run"],
    "digest": ["digest"],
    "sql": ["sql", "select 1 as one"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unreachable_postgres_is_one_line_without_the_password(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    port = free_port()
    monkeypatch.setenv("SOURCES__REFINER__API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("SOURCES__REFINER__BASE_URL", emulator.base_url)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("WAREHOUSE__DESTINATION", "postgres")
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS",
        f"postgresql://loader:{SENTINEL_PASSWORD}@127.0.0.1:{port}/refiner",
    )
    run = run_refiner(*COMMANDS[command])

    assert run.code == 1, run.stderr
    (line,) = run.error_lines
    assert line.startswith("Error: Cannot reach the PostgreSQL warehouse (connection to server")
    assert f'"127.0.0.1", port {port} failed: Connection refused' in line
    assert line.endswith("fix DESTINATION__POSTGRES__CREDENTIALS, then run again")
    assert SENTINEL_PASSWORD not in run.output
