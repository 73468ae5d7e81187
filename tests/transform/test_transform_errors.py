"""`refiner transform` refuses bad input before dbt runs, with a clear message and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import EXIT_USAGE, ConfigError
from pipelines.transform import run_transform
from tests.cli_run import run_refiner


def test_missing_duckdb_file_says_to_load_first(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.duckdb"
    with pytest.raises(ConfigError, match="run `refiner load`"):
        run_transform(duckdb_path=missing)
    result = run_refiner("transform", "--duckdb-path", str(missing))
    assert result.code == EXIT_USAGE
    assert "does not exist" in result.output
    assert not missing.exists()


def test_unknown_destination_is_a_usage_error(tmp_path: Path) -> None:
    result = run_refiner("transform", "--destination", "bigquery")
    assert result.code == EXIT_USAGE
    assert "destination must be one of duckdb, postgres" in result.output


def test_unknown_include_is_a_usage_error(tmp_path: Path) -> None:
    database = tmp_path / "refiner.duckdb"
    database.touch()
    with pytest.raises(ConfigError, match="responses_include"):
        run_transform(duckdb_path=database, responses_include="everything")
