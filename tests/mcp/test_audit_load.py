"""The audit log resource, loaded by dlt into a real DuckDB file: appends, rotation, merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines.mcp.audit_load import audit_log_resource


def _line(number: int, tool: str = "query_warehouse", **extra: Any) -> str:
    entry = {
        "time": f"2026-05-01T10:00:{number:02d}+00:00",
        "call_id": f"00000000-0000-4000-8000-{number:012d}",
        "client_name": "agent",
        "client_version": "1.0",
        "tool": tool,
        "arguments": {"sql": f"SELECT {number}"},
        "outcome": "ok",
        "error": None,
        "duration_ms": 1.5,
        "result_chars": 10 * number,
        **extra,
    }
    return json.dumps(entry) + "\n"


class Loader:
    """Runs the resource in one dlt pipeline into one DuckDB file, and reads the table back."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "refiner-mcp-audit.jsonl"
        self.database = tmp_path / "refiner.duckdb"
        self.pipeline = dlt.pipeline(
            "mcp_audit_test",
            destination=dlt.destinations.duckdb(str(self.database)),
            dataset_name="refiner_raw",
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    def load(self) -> None:
        self.pipeline.run(audit_log_resource(self.log))

    def rows(self, sql: str = "SELECT call_id FROM refiner_raw.mcp_audit_log ORDER BY 1") -> Any:
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.execute(sql).fetchall()


@pytest.fixture
def loader(tmp_path: Path) -> Loader:
    return Loader(tmp_path)


def _ids(*numbers: int) -> list[tuple[str]]:
    return [(f"00000000-0000-4000-8000-{n:012d}",) for n in numbers]


def test_loads_lines_with_typed_columns(loader: Loader) -> None:
    loader.log.write_text(_line(1) + _line(2, tool="get_contacts", outcome="refused"))
    loader.load()
    assert loader.rows() == _ids(1, 2)
    typed = loader.rows(
        "SELECT tool, outcome, arguments->>'sql', typeof(time), result_chars "
        "FROM refiner_raw.mcp_audit_log ORDER BY call_id"
    )
    assert typed == [
        ("query_warehouse", "ok", "SELECT 1", "TIMESTAMP WITH TIME ZONE", 10),
        ("get_contacts", "refused", "SELECT 2", "TIMESTAMP WITH TIME ZONE", 20),
    ]


def test_reads_only_appended_complete_lines(loader: Loader) -> None:
    third = _line(3)
    loader.log.write_text(_line(1) + _line(2) + third[:20])
    loader.load()
    assert loader.rows() == _ids(1, 2)
    with loader.log.open("a") as handle:
        handle.write(third[20:] + _line(4))
    loader.load()
    assert loader.rows() == _ids(1, 2, 3, 4)
    loader.load()
    assert loader.rows() == _ids(1, 2, 3, 4)


def test_a_rotated_file_is_read_from_its_start(loader: Loader) -> None:
    loader.log.write_text(_line(1) + _line(2) + _line(3))
    loader.load()
    loader.log.write_text(_line(3) + _line(5))
    loader.load()
    assert loader.rows() == _ids(1, 2, 3, 5)


def test_bad_lines_are_skipped_and_an_absent_file_loads_nothing(
    loader: Loader, caplog: pytest.LogCaptureFixture
) -> None:
    loader.load()
    assert loader.rows(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'mcp_audit_log'"
    ) == [(0,)]
    loader.log.write_text(_line(1) + "not json\n" + '["a list"]\n' + _line(2))
    loader.load()
    assert loader.rows() == _ids(1, 2)
    assert "skipped line 2" in caplog.text and "skipped line 3" in caplog.text
