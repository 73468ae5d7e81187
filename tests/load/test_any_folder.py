"""A load behaves the same from any folder: the settings the project relies on are defaults in
code (pipelines/defaults.py), not only in the clone's .dlt/config.toml.

`refiner load` runs as a child process from an empty folder. Staging is emptied after the
merge (`truncate_staging_dataset`), `runtime.dlthub_telemetry` resolves to false, and dlt sends
nothing to its telemetry endpoint, here a local receiver. The same run with the environment
setting both the other way shows that the test can fail, and that the environment still
overrides the project's defaults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.load.helpers import PAGE_LENGTH, REPO, START_DATE

STAGING = "refiner_raw_staging"
_LOAD_AND_REPORT = """
import json, sys
import dlt
from pipelines.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "telemetry": dlt.config.get("runtime.dlthub_telemetry", bool)}))
"""


class _Receiver(ThreadingHTTPServer):
    requests: list[str]


class _Record(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        assert isinstance(self.server, _Receiver)
        self.server.requests.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def telemetry_receiver() -> Iterator[_Receiver]:
    """A loopback HTTP endpoint that records what is posted to it."""
    server = _Receiver(("127.0.0.1", 0), _Record)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class _Run:
    folder: Path
    telemetry: bool
    """`runtime.dlthub_telemetry` as dlt resolved it in the loading process."""
    staging: dict[str, int]
    """Rows per data table of the staging dataset after the load."""


def _load_from_empty_folder(
    tmp_path: Path, emulator: Emulator, receiver: _Receiver, env: dict[str, str]
) -> _Run:
    """`refiner load` in a child process whose working folder is empty; dlt's telemetry goes
    to `receiver`."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    database = tmp_path / "warehouse.duckdb"
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__", "LOAD__", "NORMALIZE__"))
        and name != "DLT_PROJECT_DIR"
    }
    child_env = {
        **inherited,
        "PYTHONPATH": str(REPO),
        "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
        "SOURCES__REFINER__BASE_URL": emulator.base_url,
        "SOURCES__REFINER__PAGE_LENGTH": str(PAGE_LENGTH),
        "SOURCES__REFINER__START_DATE": START_DATE,
        "DLT_DATA_DIR": str(folder / "dlt-data"),
        "RUNTIME__DLTHUB_TELEMETRY_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
        **env,
    }
    args = ["load", "--resources", "contacts,responses", "--duckdb-path", str(database)]
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_REPORT, *args],
        cwd=folder,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return _Run(folder, report["telemetry"], _staging_rows(database))


def _staging_rows(database: Path) -> dict[str, int]:
    """Rows per data table of the staging dataset (dlt's own `_dlt_version` left out)."""
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = ?", [STAGING]
        ).fetchall()
        return {
            name: len(connection.execute(f'select 1 from "{STAGING}"."{name}"').fetchall())
            for (name,) in tables
            if not name.startswith("_dlt")
        }


def test_load_from_an_empty_folder_keeps_the_project_defaults(
    load_emulator: Emulator, tmp_path: Path, telemetry_receiver: _Receiver
) -> None:
    run = _load_from_empty_folder(tmp_path, load_emulator, telemetry_receiver, {})

    assert run.telemetry is False
    assert {"contacts", "responses"} <= set(run.staging), run.staging
    assert sum(run.staging.values()) == 0, f"staging kept rows: {run.staging}"
    assert telemetry_receiver.requests == []
    assert list(run.folder.iterdir()) == [run.folder / "dlt-data"], "the load wrote here"


def test_environment_still_overrides_the_project_defaults(
    load_emulator: Emulator, tmp_path: Path, telemetry_receiver: _Receiver
) -> None:
    overrides = {"RUNTIME__DLTHUB_TELEMETRY": "true", "LOAD__TRUNCATE_STAGING_DATASET": "false"}
    run = _load_from_empty_folder(tmp_path, load_emulator, telemetry_receiver, overrides)

    assert run.telemetry is True
    assert run.staging["contacts"] > 0 and run.staging["responses"] > 0, run.staging
    assert telemetry_receiver.requests, "dlt sent no telemetry even when told to"
