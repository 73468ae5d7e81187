"""A hand-made warehouse for the digest tests, and the local servers they deliver to.

`build_warehouse` serves a tiny emulator whose responses sit at chosen instants around the
Europe/Berlin midnight of DAY, loads it with `run_load` into a real DuckDB file and builds the
marts with `run_transform`. The expected figures below are worked out by hand from that table.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from emulator.models import Question

DAY = date(2026, 3, 10)  # a Tuesday; Berlin is UTC+1 (CET)
EMPTY_DAY = date(2026, 3, 12)
HOSTILE = (
    "<!channel> <@U0123> *bold* _it_ `code` [x](http://evil.example) "
    "<http://evil.example|click> & <b>bold</b>"
)
SCRIPT = "Too slow <script>alert('x')</script>"

# (name, form, utc instant, nps or csat score, comment); the Berlin day of each is noted.
RESPONSES: tuple[tuple[str, str, str, int, str | None], ...] = (
    ("p0", "nps", "2026-03-08T23:30:00Z", 9, None),  # Berlin 9 March (UTC 8 March)
    ("p1", "nps", "2026-03-09T10:00:00Z", 6, None),  # Berlin 9 March
    ("p2", "nps", "2026-03-09T12:00:00Z", 10, None),  # Berlin 9 March
    ("p3", "csat", "2026-03-09T13:00:00Z", 4, None),  # Berlin 9 March
    ("r1", "nps", "2026-03-09T23:30:00Z", 3, SCRIPT),  # Berlin 10 March (UTC 9 March)
    ("r2", "nps", "2026-03-10T08:00:00Z", 10, "Love it"),
    ("r3", "nps", "2026-03-10T12:00:00Z", 8, None),
    ("r4", "nps", "2026-03-10T22:59:00Z", 9, "Great"),
    ("r5", "csat", "2026-03-10T10:00:00Z", 5, "ok"),
    ("r6", "csat", "2026-03-10T11:00:00Z", 2, HOSTILE),
    ("r8", "nps", "2026-03-10T23:30:00Z", 7, None),  # Berlin 11 March (UTC 10 March)
)
NPS_FORM, CSAT_FORM = "NPS — Product", "Support <CSAT> ⭐"
COMMENT_KEYS = {"nps": "reason", "csat": "why"}

# Hand-computed, Europe/Berlin, 10 March 2026 against 9 March 2026:
#   NPS r1 3 (detractor), r2 10, r4 9 (promoters), r3 8 (passive): 100 * (2 - 1) / 4 = 25
#   before: p0 9, p2 10 (promoters), p1 6 (detractor): 100 * (2 - 1) / 3 = 33.33
#   CSAT r5 5 (satisfied), r6 2: 50 %, average 3.5; before p3 4: 100 %
#   responses 4 + 2 = 6 against 3 + 1 = 4: +50 %
BERLIN = {
    "nps": (25.0, 2, 1, 1, 4),
    "previous_nps": 100 / 3,
    "csat": (50.0, 1, 2, 3.5),
    "previous_csat": 100.0,
    "surveys": {NPS_FORM: (4, 3), CSAT_FORM: (2, 1)},
    "comment_order": ["r1", "r6", "r4", "r2", "r5"],
}
# UTC, 10 March: r2 10, r4 9 (promoters), r3 8, r8 7 (passives): NPS 50 from 4 answers.
UTC_NPS = (50.0, 2, 2, 0, 4)


@dataclass
class Warehouse:
    """The loaded DuckDB file, the responses' uuids by name, and the contacts who wrote."""

    path: Path
    uuids: dict[str, str]
    contact_names: list[str]
    contact_emails: list[str]


def _at(text: str) -> str:
    return text.replace("T", " ").replace("Z", "")


def build_warehouse(directory: Path, postgres_url: str | None = None) -> Warehouse:
    """Serve the RESPONSES, load them into `directory`/digest.duckdb (or, with `postgres_url`,
    into that database, whose URL must also be DESTINATION__POSTGRES__CREDENTIALS) and run dbt.
    """
    from pipelines.load.run import run_load
    from pipelines.transform import run_transform

    seed = SeedConfig(seed=5, contacts=2, accounts=1, forms=0, segments=1, responses=0)
    path = directory / "digest.duckdb"
    with Emulator(seed=seed) as emulator:
        store = emulator.store
        forms = {
            kind: store.add_form(
                name=name,
                questions=[
                    Question(kind, kind, text),
                    Question(COMMENT_KEYS[kind], "text", "Why?"),
                ],
                created_at="2026-01-01 00:00:00",
            )
            for kind, name, text in (
                ("nps", NPS_FORM, "How likely are you to recommend us?"),
                ("csat", CSAT_FORM, "How satisfied are you?"),
            )
        }
        contacts = sorted(store.contact_records)
        uuids = {}
        for index, (name, kind, at, score, comment) in enumerate(RESPONSES):
            data: dict[str, Any] = {kind: score}
            if comment is not None:
                data[COMMENT_KEYS[kind]] = comment
            uuids[name] = store.add_response(
                form_uuid=forms[kind],
                contact_uuid=contacts[index % 2],
                data=data,
                at=_at(at),
            )
        people = [store.contact_records[uuid] for uuid in contacts]
        with _quiet():
            run_load(
                destination="postgres" if postgres_url else "duckdb",
                duckdb_path=path,
                pipelines_dir=directory / "pipelines",
                api_key=DEFAULT_API_KEY,
                base_url=emulator.base_url,
            )
    with _quiet():
        if postgres_url:
            run_transform(
                "postgres", postgres_url=postgres_url, quiet=True, target_path=directory / "target"
            )
        else:
            run_transform("duckdb", path, quiet=True, target_path=directory / "target")
    return Warehouse(
        path=path,
        uuids=uuids,
        contact_names=[person.display_name for person in people if person.display_name],
        contact_emails=[person.email for person in people if person.email],
    )


@contextmanager
def _quiet() -> Iterator[None]:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        yield


@dataclass
class Recorder:
    """A loopback HTTP server that records each POST body and answers as `respond` says."""

    status: int = 200
    body: bytes = b"ok"
    delay_seconds: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@contextmanager
def http_receiver(recorder: Recorder) -> Iterator[Recorder]:
    """Serve `recorder` on a free loopback port until the block ends."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            recorder.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)}
            )
            if recorder.delay_seconds:
                stop.wait(recorder.delay_seconds)
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(recorder.body)))
            self.end_headers()
            self.wfile.write(recorder.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorder
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
