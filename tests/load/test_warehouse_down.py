"""A PostgreSQL warehouse that cannot be reached fails the load with one line that says so.

The line names what failed (psycopg2's first line: host and port), what to do, and never the
password; nothing is lost, as the extracted data waits in the pipeline's folder (test_faults,
s06, shows the next run loading it).
"""

from __future__ import annotations

from pathlib import Path

from emulator import Emulator
from tests.load.helpers import Warehouse, load_args, load_env, run_refiner
from tests.ports import free_port

SENTINEL_PASSWORD = "pw-sentinel-7f3a9c1e"


def test_an_unreachable_postgres_is_one_line_without_the_password(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    port = free_port()
    url = f"postgresql://loader:{SENTINEL_PASSWORD}@127.0.0.1:{port}/refiner"
    warehouse = Warehouse("postgres", url)
    pipelines = tmp_path / "pipelines"

    environment = load_env(load_emulator, warehouse, pipelines)
    run = run_refiner(load_args(warehouse, pipelines), environment)

    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.code == 1, run.output
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: Cannot reach the PostgreSQL warehouse (connection to server")
    assert f'"127.0.0.1", port {port} failed: Connection refused' in lines[0]
    assert lines[0].endswith("fix DESTINATION__POSTGRES__CREDENTIALS, then run again")
    assert SENTINEL_PASSWORD not in run.output
