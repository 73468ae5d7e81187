"""`refiner listen` as a real process: kill -9 loses nothing acknowledged, SIGTERM flushes
and exits 0, it runs beside `refiner load` and `refiner transform` on one DuckDB file, and
no secret reaches its output, spool or warehouse."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator import Emulator, SeedConfig
from pipelines.cli import main
from pipelines.warehouse_lock import writer_turn
from tests.events.helpers import (
    duckdb_rows,
    emulator_bodies,
    encode,
    hook_server,
    kill_leftover_listeners,
    spool_rows,
    start_listen,
    survey_payload,
)
from tests.secrets import SENTINEL_API_KEY

SECRET = "sentinel-secret-0c9d1e"


@pytest.fixture(autouse=True)
def _stop_listeners() -> Iterator[None]:
    yield
    kill_leftover_listeners()


COUNT_EVENTS = "select count(*), count(distinct delivery_id) from refiner_raw.webhook_events"


def listen_args(tmp_path: Path, *extra: str) -> list[str]:
    database = tmp_path / "w.duckdb"
    return [
        "--duckdb-path",
        str(database),
        "--spool",
        str(tmp_path / "ev" / "spool.sqlite"),
        *extra,
    ]


def send(url: str, bodies: list[bytes]) -> None:
    with httpx.Client(base_url=url, params={"token": SECRET}) as http:
        for body in bodies:
            assert http.post("/webhooks/refiner", content=body).status_code == 200


def test_kill_after_ack_before_flush_loses_nothing(tmp_path: Path) -> None:
    env = {"SOURCES__REFINER__WEBHOOK_SECRET": SECRET}
    database = tmp_path / "w.duckdb"
    bodies = [encode(survey_payload()) for _ in range(50)]
    # Holding the writer lock keeps the flusher from writing: every ack is spool-only.
    with writer_turn(database):
        listener = start_listen(listen_args(tmp_path), env)
        send(listener.url, bodies)
        code, _ = listener.stop(signal.SIGKILL)
        assert code == -signal.SIGKILL
    assert spool_rows(tmp_path / "ev" / "spool.sqlite", "deliveries") == 50
    assert not database.exists()
    restarted = start_listen(listen_args(tmp_path), env)
    code, output = restarted.stop(signal.SIGTERM)
    assert code == 0, output
    assert duckdb_rows(database, COUNT_EVENTS) == [(50, 50)]


def test_listen_beside_load_and_transform(tmp_path: Path) -> None:
    """Deliveries keep arriving while `refiner load` and `refiner transform` write the same
    DuckDB file; all three succeed and every delivery lands."""
    seed = SeedConfig(seed=5, contacts=40, accounts=8, forms=4, segments=3, responses=300, days=20)
    database = tmp_path / "w.duckdb"
    with Emulator(seed).start() as emulator, pytest.MonkeyPatch.context() as patch:
        from emulator import DEFAULT_API_KEY

        patch.setenv("SOURCES__REFINER__API_KEY", DEFAULT_API_KEY)
        patch.setenv("SOURCES__REFINER__BASE_URL", emulator.base_url)
        patch.setenv("SOURCES__REFINER__START_DATE", "2024-01-01")
        listener = start_listen(listen_args(tmp_path), {"SOURCES__REFINER__WEBHOOK_SECRET": SECRET})
        stop = threading.Event()
        sent: list[bytes] = []
        # Redeliveries of responses Refiner also reports, so dbt's reporting check still holds.
        bodies = iter(emulator_bodies(emulator, 2000, fresh=False))

        def deliver() -> None:
            with httpx.Client(base_url=listener.url, params={"token": SECRET}) as http:
                while not stop.is_set():
                    body = next(bodies)
                    assert http.post("/webhooks/refiner", content=body).status_code == 200
                    sent.append(body)
                    stop.wait(0.05)

        sender = threading.Thread(target=deliver)
        sender.start()
        try:
            pipelines = str(tmp_path / "dlt")
            load = ["load", "--duckdb-path", str(database), "--pipelines-dir", pipelines]
            assert main(load) == 0
            assert main(["transform", "--duckdb-path", str(database), "--quiet"]) == 0
            assert main(load) == 0
        finally:
            stop.set()
            sender.join()
        code, output = listener.stop()
    assert code == 0, output
    distinct = len(set(sent))
    assert distinct > 10
    assert duckdb_rows(database, COUNT_EVENTS) == [(distinct, distinct)]
    batch = duckdb_rows(database, "select count(*) from refiner_raw.responses")
    assert batch[0][0] > 0


def test_secrets_never_in_output_spool_or_warehouse(tmp_path: Path) -> None:
    api_key = SENTINEL_API_KEY
    slack_path = "/services/T000/B000/sentinelslack0e2f"
    seed = SeedConfig(seed=3, contacts=10, accounts=2, forms=2, segments=1, responses=20, days=5)
    with Emulator(seed, api_keys=[api_key]).start() as emulator, hook_server() as slack:
        rules = tmp_path / "rules.toml"
        rules.write_text(
            '[[rules]]\nname = "all"\n'
            '[[rules.actions]]\ntype = "track-event"\nevent = "Webhook seen"\n'
            '[[rules.actions]]\ntype = "slack"\ntext = "{{ contact.email }} answered"\n'
        )
        env = {
            "SOURCES__REFINER__WEBHOOK_SECRET": SECRET,
            "SOURCES__REFINER__API_KEY": api_key,
            "SOURCES__REFINER__BASE_URL": emulator.base_url,
            "SOURCES__REFINER__SLACK_WEBHOOK_URL": slack.url + slack_path,
        }
        listener = start_listen(listen_args(tmp_path, "--rules", str(rules)), env)
        contact = emulator.store.dump()["contacts"][0]
        body = survey_payload(contact_uuid=contact["uuid"], remote_id=contact["remote_id"])
        send(listener.url, [encode(body)])
        with httpx.Client(base_url=listener.url) as http:
            bearer = {"Authorization": f"Bearer {SECRET}"}
            assert http.post("/webhooks/refiner", headers=bearer, content=b"{").status_code == 400
            wrong = http.post("/webhooks/refiner", params={"token": SECRET + "x"}, content=b"{}")
            assert wrong.status_code == 401
        from tests.events.helpers import wait_for

        wait_for(lambda: len(slack.requests) == 1)
        wait_for(lambda: len(emulator.request_log.filter(path="/track-event")) == 1)
        code, output = listener.stop()
    assert code == 0
    stored = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    for sentinel in (SECRET, api_key, slack_path, "sentinelslack0e2f"):
        assert sentinel not in output
        assert sentinel.encode() not in stored
    assert slack.requests[0][0] == slack_path
