"""`refiner demo`: one command from an empty directory to a loaded DuckDB file and three queries."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli.demo import EXAMPLE_QUERIES
from tests.load.helpers import Warehouse, run_refiner_process


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
    assert len(EXAMPLE_QUERIES) == 3
    for title, sql in EXAMPLE_QUERIES.items():
        assert title in run.stdout, f"query {title!r} not printed"
        rows = warehouse.query(sql)
        assert rows, f"query {title!r} has no rows in the demo database"
        for row in rows:
            for cell in row:
                text = str(cell)
                if len(text) <= 20:  # longer cells may be truncated by the terminal table
                    assert text in run.stdout, f"{title!r}: {text!r} not printed"
    warehouse.close()
    digest = tmp_path / "digest"
    assert sorted(path.name for path in digest.iterdir()) == [
        "digest.html", "digest.json", "digest.txt", "nps_trend.png",
    ]  # fmt: skip
    text = (digest / "digest.txt").read_text()
    assert text.startswith("Refiner digest — ")
    assert text in run.stdout
