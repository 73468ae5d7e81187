"""Refiner-shaped webhook bodies, a receiver on a thread, and small spool/warehouse readers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from pipelines.events.receiver import Counters, ReceiverSettings, create_app
from pipelines.events.service import EventsService, ServiceOptions
from tests.ports import free_port

PROJECT_UUID = "6f1c6c2e-0000-4000-8000-00000000e001"
FORM = {"uuid": "0b8b3a44-1f7e-4b9f-9a55-0000000f0001", "name": "NPS survey"}


def survey_payload(
    response_uuid: str | None = None,
    *,
    nps: Any = 4,
    comment: Any = "Too slow",
    received: str = "2024-05-20T17:02:11.000000Z",
    contact_uuid: str | None = None,
    remote_id: str | None = "user-1",
    event: str = "Completed Survey",
) -> dict[str, Any]:
    """A 'Completed Survey' delivery shaped as in refiner-api.md §8."""
    return {
        "uuid": contact_uuid or str(uuid.uuid4()),
        "project_uuid": PROJECT_UUID,
        "cookie_uuid": None,
        "remote_id": remote_id,
        "email": "ada@example.com",
        "display_name": "",
        "first_seen_at": "2024-01-02T03:04:05.000000Z",
        "last_seen_at": received,
        "attributes": {"form_submissions_count": "1", "plan": "pro", "nps": None},
        "segments": [
            {
                "uuid": "5e000000-0000-4000-8000-000000000001",
                "name": "Paying",
                "created_at": "2024-01-02T03:04:05.000000Z",
                "updated_at": "2024-01-02T03:04:05.000000Z",
            }
        ],
        "account": {"uuid": None, "remote_id": None, "display_name": None, "attributes": {}},
        "triggered_event": event,
        "form": FORM,
        "response": {
            "uuid": response_uuid or str(uuid.uuid4()),
            "first_shown_at": "2024-05-20T17:01:00.000000Z",
            "last_shown_at": "2024-05-20T17:01:00.000000Z",
            "show_counter": None,
            "first_data_reception_at": "2024-05-20T17:01:30.000000Z",
            "last_data_reception_at": received,
            "completed_at": received,
            "received_at": received,
            "dismissed_at": None,
            "data": {"nps": nps, "comment": comment},
            "tags": [],
        },
    }


def segment_payload(contact_uuid: str, segment_uuid: str) -> dict[str, Any]:
    """A 'User enters segment' delivery: contact only, no form or response."""
    body = survey_payload(contact_uuid=contact_uuid, event="User enters segment")
    del body["form"], body["response"]
    body["segments"] = [{"uuid": segment_uuid, "name": "At risk"}]
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@contextmanager
def running_receiver(
    options: ServiceOptions, settings: ReceiverSettings
) -> Iterator[tuple[str, EventsService]]:
    """The receiver app on uvicorn in a thread; on exit the service flushes and stops."""
    import uvicorn

    with EventsService(options) as service:
        assert service.writer is not None
        app = create_app(settings, service.writer, Counters())
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", service
        finally:
            server.should_exit = True
            thread.join()


@dataclass
class HookServer:
    """A local HTTP endpoint standing in for Slack or a webhook target. It records every
    request and answers the queued statuses first, then 200."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@contextmanager
def hook_server(statuses: Iterable[int] = ()) -> Iterator[HookServer]:
    hook = HookServer(list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            hook.requests.append((self.path, headers, body))
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def spool_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"select count(*) from {table}").fetchone()[0])


def duckdb_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@dataclass
class ListenProcess:
    """`refiner listen` in a child process (real signals, real crashes)."""

    process: subprocess.Popen[str]
    url: str

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        output, _ = self.process.communicate(timeout=60)
        return self.process.returncode, output


_STARTED: list[subprocess.Popen[str]] = []


def kill_leftover_listeners() -> None:
    """Kill listeners a failed test left running (each by its own process id)."""
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def start_listen(args: list[str], env: dict[str, str]) -> ListenProcess:
    """Start `refiner listen <args>` on a free port and wait until /healthz answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "listen", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _STARTED.append(process)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"listen exited: {process.communicate()[0]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return ListenProcess(process, url)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("listen did not start")
        time.sleep(0.1)


def emulator_bodies(emulator: Any, count: int, *, fresh: bool = True) -> list[bytes]:
    """Webhook bodies for the emulator's completed responses (real forms and contacts).
    With `fresh`, each gets a new response uuid and a reception time of now, as a survey
    completed after the last batch load would."""
    from pipelines.events.watch import webhook_body

    dump = emulator.store.dump()
    completed = [item for item in dump["responses"] if item.get("completed_at")]
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    bodies = []
    for index in range(count):
        item = dict(completed[index % len(completed)])
        if fresh:
            item.update(uuid=str(uuid.uuid4()), last_data_reception_at=now, completed_at=now)
        bodies.append(webhook_body(item, dump["project_uuid"]))
    return bodies
