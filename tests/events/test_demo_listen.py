"""`refiner demo --listen`: completions in the emulator reach the receiver, land in DuckDB,
and the detractor rule tracks one event per detractor back in the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main


def test_demo_listen_shows_the_loop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "demo.duckdb"
    assert main(["demo", "--listen", "--duckdb-path", str(database)]) == 0
    output = capsys.readouterr().out
    assert output.count("completed the survey with NPS") == 8
    assert output.count("Refiner got track-event 'NPS detractor'") == 4
    assert "refiner_raw.webhook_events: 8 x 'Completed Survey'" in output
