"""`refiner watch`: polls completed responses into the same spool and deduplication as the
receiver, with its own cursor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from pipelines.config import ApiSettings, make_client
from pipelines.events.payload import parse_body
from pipelines.events.spool import Spool
from pipelines.events.watch import CURSOR, poll_once, webhook_body
from tests.events.helpers import duckdb_rows, spool_rows

SEED = SeedConfig(seed=9, contacts=20, accounts=4, forms=3, segments=2, responses=120, days=10)


def test_poll_spools_each_completed_response_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite")
    with Emulator(SEED).start() as emulator:
        dump = emulator.store.dump()
        completed = [r for r in dump["responses"] if r["completed_at"]]
        webhook = webhook_body(completed[0], dump["project_uuid"])
        client = make_client(ApiSettings(DEFAULT_API_KEY, emulator.base_url))
        with client, spool.connection() as connection:
            assert spool.append(connection, [(parse_body(webhook), webhook, "webhook")]) == [True]
            first = poll_once(client, spool, connection, dump["project_uuid"], timedelta(days=30))
            again = poll_once(client, spool, connection, dump["project_uuid"], timedelta(days=30))
            cursor = spool.get_meta(connection, CURSOR)
    assert first == len(completed) - 1
    assert again == 0
    newest = max(r["last_data_reception_at"] for r in completed)
    assert cursor is not None
    assert cursor.startswith(newest.replace(" ", "T"))
    assert spool_rows(tmp_path / "spool.sqlite", "deliveries") == len(completed)


def test_watch_command_polls_flushes_and_stops_on_sigterm(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    with Emulator(SEED).start() as emulator:
        command = [
            sys.executable, "-m", "pipelines.cli", "watch", "--every", "1s", "--lookback", "30d",
            "--duckdb-path", str(database), "--spool", str(tmp_path / "ev" / "spool.sqlite"),
        ]  # fmt: skip
        env = {
            "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
            "SOURCES__REFINER__BASE_URL": emulator.base_url,
        }
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        started = process.stdout.readline()
        deadline = time.monotonic() + 30
        while len(emulator.request_log.filter(path="/responses")) < 2:
            assert time.monotonic() < deadline, "watch did not poll twice"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        polls = emulator.request_log.filter(path="/responses")
    assert process.returncode == 0, output
    assert "polling every 1s" in started
    assert len(polls) >= 2
    assert all(p.params.get("include") == "completed" for p in polls)
    rows = duckdb_rows(database, "select count(*) from refiner_raw.webhook_events")
    spooled = spool_rows(tmp_path / "ev" / "spool.sqlite", "deliveries")
    assert rows == [(spooled,)]
