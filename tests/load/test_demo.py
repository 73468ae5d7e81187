"""`refiner demo`: one command from an empty directory to a loaded DuckDB file and three queries."""

from __future__ import annotations

from pathlib import Path

from tests.load.conftest import Warehouse, run_refiner_process


def test_demo_loads_a_duckdb_file_and_prints_the_three_queries(tmp_path: Path) -> None:
    run = run_refiner_process(
        ["demo"], {"RUNTIME__DLTHUB_TELEMETRY": "false"}, cwd=tmp_path, timeout=240
    )

    assert run.code == 0, run.output
    database = tmp_path / "refiner.duckdb"
    assert database.is_file()
    warehouse = Warehouse("duckdb", str(database))
    per_form = warehouse.query(
        "select form_name, count(*) from {ds}.responses group by form_name order by 2 desc"
    )
    assert per_form, "the demo loaded no responses"
    for form_name, count in per_form:
        assert form_name in run.stdout and str(count) in run.stdout, (form_name, count)
    assert "nps" in run.stdout.lower()
    top = warehouse.query(
        "select value_text, count(*) from {ds}.response_answers where value_text is not null "
        "group by value_text order by 2 desc limit 5"
    )
    best = [value for value, count in top if count == top[0][1]]
    assert any(value in run.stdout for value in best), f"most common answers {best} not printed"
