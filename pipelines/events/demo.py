"""`refiner demo --listen`: the webhook loop end to end on the local emulator.

A seeded emulator sends webhooks to an in-process receiver (`refiner listen`'s app); the
emulator completes NPS responses; the receiver lands them in DuckDB and a detractor rule
(NPS 0-6) tracks an "NPS detractor" event back in the emulator, whose request log shows it.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config import ApiSettings
from pipelines.events.receiver import WEBHOOK_PATH, ReceiverSettings, running
from pipelines.events.service import EventsService, ServiceOptions

if TYPE_CHECKING:
    from rich.console import Console

    from emulator import Emulator

SCORES = (2, 9, 6, 10, 0, 8, 4, 7)
RULES = """\
[[rules]]
name = "detractor follow-up"
event = "Completed Survey"
when = "answers.nps is defined and answers.nps <= 6"
  [[rules.actions]]
  type = "track-event"
  event = "NPS detractor"
"""
WAIT_SECONDS = 60.0


def run_listen_demo(*, duckdb_path: str, console: Console) -> None:
    """Run the loop once and print what reached Refiner and the warehouse."""
    from emulator import DEFAULT_API_KEY, Emulator, SeedConfig

    seed = SeedConfig(seed=7, contacts=40, accounts=8, forms=4, segments=3, responses=200)
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as work, Emulator(seed).start() as emulator:
        rules = Path(work) / "rules.toml"
        rules.write_text(RULES)
        options = ServiceOptions(
            Path(work) / "spool.sqlite", duckdb_path=duckdb_path, rules_path=rules
        )
        api = ApiSettings(DEFAULT_API_KEY, emulator.base_url)
        with (
            EventsService(options, api) as service,
            running(service, ReceiverSettings(token)) as url,
        ):
            emulator.webhooks.register(url + WEBHOOK_PATH, token)
            console.print(f"Emulator {emulator.base_url} sends webhooks to {url}{WEBHOOK_PATH}")
            expected = _complete_responses(emulator, console)
            _wait_for_events(emulator, expected)
        for request in emulator.request_log.filter(path="/track-event"):
            event, user = request.params.get("event"), request.params.get("id")
            console.print(f"Refiner got track-event {event!r} for {user}")
    _print_landed(Path(duckdb_path), console)


def _complete_responses(emulator: Emulator, console: Console) -> int:
    """Complete one NPS response per score; returns how many are detractors."""
    dump = emulator.store.dump()
    form, question = next(
        (f["uuid"], e["id"])
        for f in dump["forms"]
        for e in f["config"]["form_elements"]
        if e["type"] == "nps"
    )
    contacts = [c for c in dump["contacts"] if c["remote_id"]]
    for score, contact in zip(SCORES, contacts, strict=False):
        emulator.store.add_response(
            form_uuid=form, contact_uuid=contact["uuid"], data={question: score}
        )
        console.print(f"{contact['remote_id']} completed the survey with NPS {score}")
    return sum(score <= 6 for score in SCORES)


def _wait_for_events(emulator: Emulator, expected: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while len(emulator.request_log.filter(path="/track-event")) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError("the detractor rule did not fire in time; see the log")
        time.sleep(0.1)


def _print_landed(duckdb_path: Path, console: Console) -> None:
    import duckdb

    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        rows = connection.execute(
            "select triggered_event, count(*) from refiner_raw.webhook_events group by 1"
        ).fetchall()
    for event, count in rows:
        console.print(f"refiner_raw.webhook_events: {count} x {event!r}")
