"""`refiner tools <tool>` end to end: the CLI, the client and the emulator over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.cli.helpers import CliResult
from tests.dlt_project import DltProject

Run = Callable[..., CliResult]
SENTINEL_KEY = "7d3c2b1a-4b5a-11ee-8000-0242ac12ffff"


@pytest.fixture
def api(emulator: Emulator, dlt_project: DltProject) -> Iterator[Emulator]:
    """The emulator, configured for the CLI through environment variables only."""
    os.environ["SOURCES__REFINER__API_KEY"] = DEFAULT_API_KEY
    os.environ["SOURCES__REFINER__BASE_URL"] = emulator.base_url
    yield emulator


def output(result: CliResult) -> Any:
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_get_account_info(api: Emulator, run_cli: Run) -> None:
    info = output(run_cli("tools", "get-account-info"))
    assert info["subscription"]["plan"]
    assert api.store.project_uuid in {env["uuid"] for env in info["environments"]}


def test_get_contacts_one_page_then_all(api: Emulator, run_cli: Run) -> None:
    page = output(run_cli("tools", "get-contacts", "--page-length", "7"))
    assert len(page["items"]) == 7
    assert page["pagination"]["next_page_cursor"]
    rest = output(
        run_cli(
            "tools",
            "get-contacts",
            "--page-length",
            "7",
            "--page-cursor",
            page["pagination"]["next_page_cursor"],
        )
    )
    assert not {c["uuid"] for c in page["items"]} & {c["uuid"] for c in rest["items"]}
    everything = output(run_cli("tools", "get-contacts", "--page-length", "7", "--all"))
    uuids = [c["uuid"] for c in everything["items"]]
    assert len(uuids) == len(set(uuids)) == len(api.store.contacts)
    assert len([e for e in api.request_log.entries() if e.path == "/contacts"]) >= 2 + 5


def test_get_contacts_filters(api: Emulator, run_cli: Run) -> None:
    segment = next(iter(api.store.segments))
    listed = output(
        run_cli(
            "tools",
            "get-contacts",
            "--segment-uuid",
            segment,
            "--order-by",
            "last_seen_at",
            "--paging",
            "page",
            "--all",
        )
    )
    for contact in listed["items"]:
        assert segment in {s["uuid"] for s in contact["segments"]}
    last = api.request_log.entries()[-1]
    assert last.params["segment_uuid"] == segment and last.params["order_by"] == "last_seen_at"


def test_get_contact_and_not_found(api: Emulator, run_cli: Run) -> None:
    record = next(c for c in api.store.contacts.values() if c["remote_id"])
    got = output(run_cli("tools", "get-contact", "--id", record["remote_id"]))
    assert got["uuid"] == record["uuid"]
    assert got["email"] == record["email"]
    missing = run_cli("tools", "get-contact", "--uuid", "00000000-0000-11ee-8000-000000000000")
    assert missing.code == 4
    assert missing.stderr.startswith("Error: Not found")


def test_update_contact_with_typed_traits_and_account(api: Emulator, run_cli: Run) -> None:
    result = output(
        run_cli(
            "tools",
            "update-contact",
            "--id",
            "cli-user",
            "--trait",
            "plan=pro",
            "--trait",
            "seats=12",
            "--trait",
            "beta=true",
            "--trait",
            'zip="01234"',
            "--account",
            "id=acme",
            "--account",
            "name=Acme",
        )
    )
    record = api.store.contacts[result["contact_uuid"]]
    assert record["remote_id"] == "cli-user"
    attributes = record["attributes"]
    assert (attributes["plan"], attributes["seats"], attributes["beta"]) == ("pro", 12, True)
    assert attributes["zip"] == "01234"
    assert record["account"]["remote_id"] == "acme"


def test_delete_contact(api: Emulator, run_cli: Run) -> None:
    victim = next(iter(api.store.contacts))
    deleted = run_cli("tools", "delete-contact", "--uuid", victim, "--yes")
    assert output(deleted) == {"message": "ok"}
    assert victim not in api.store.contacts


def test_track_event(api: Emulator, run_cli: Run) -> None:
    record = next(c for c in api.store.contacts.values() if c["email"])
    result = output(
        run_cli("tools", "track-event", "--event", "Exported report", "--email", record["email"])
    )
    assert result == {"message": "ok"}
    assert api.store.events[-1]["event"] == "Exported report"


def test_get_forms(api: Emulator, run_cli: Run) -> None:
    forms = output(run_cli("tools", "get-forms", "--include-info", "--page-length", "2", "--all"))
    live = {u for u, f in api.store.forms.items() if f["archived_at"] is None}
    assert {f["uuid"] for f in forms["items"]} == live
    assert all("responses_count" in f for f in forms["items"])
    page = output(run_cli("tools", "get-forms", "--list", "all_with_archived"))
    assert page["pagination"]["current_page"] == 1
    assert api.request_log.entries()[-1].params["list"] == "all_with_archived"


def test_get_responses(api: Emulator, run_cli: Run) -> None:
    everything = output(
        run_cli("tools", "get-responses", "--include", "all", "--page-length", "100", "--all")
    )
    assert {r["uuid"] for r in everything["items"]} == set(api.store.responses)
    form = next(iter(api.store.forms))
    filtered = output(
        run_cli(
            "tools",
            "get-responses",
            "--form-uuids",
            form,
            "--date-range-start",
            "2000-01-01",
            "--with-attributes",
            "--page-length",
            "1000",
        )
    )
    assert all(r["form"]["uuid"] == form for r in filtered["items"])
    params = api.request_log.entries()[-1].params
    assert params["with_attributes"] == "1"
    assert params["date_range_start"] == "2000-01-01"


def test_get_segments(api: Emulator, run_cli: Run) -> None:
    segments = output(run_cli("tools", "get-segments", "--page-length", "2", "--all"))
    assert {s["uuid"] for s in segments["items"]} == set(api.store.segments)


def test_get_reporting(api: Emulator, run_cli: Run) -> None:
    report = output(
        run_cli("tools", "get-reporting", "--type", "nps", "--date-range-start", "2000-01-01")
    )
    assert report["type"] == "nps" and report["nps"] is not None
    assert set(report["data"]) == {"detractors", "passives", "promoters"}
    missing = run_cli("tools", "get-reporting")
    assert missing.code == 2
    assert "`type` is required" in missing.stderr


def test_validation_error_sends_nothing(api: Emulator, run_cli: Run) -> None:
    api.request_log.clear()
    for args in (
        ("get-contact",),
        ("delete-contact",),
        ("track-event", "--id", "u1"),
        ("get-reporting", "--type", "score"),
        ("get-responses", "--include", "some"),
        ("update-contact", "--trait", "plan=pro"),
    ):
        result = run_cli("tools", *args)
        assert result.code == 2, args
        assert len(result.stderr.strip().splitlines()) == 1
    assert api.request_log.entries() == []


@pytest.mark.parametrize("debug", [False, True])
def test_wrong_key_exits_3_without_leaking_it(
    api: Emulator, run_cli: Run, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    os.environ["SOURCES__REFINER__API_KEY"] = SENTINEL_KEY
    args = ("--debug",) if debug else ()
    result = run_cli(*args, "tools", "get-segments")
    assert result.code == 3
    assert "Authentication failed" in result.stderr
    assert ("Traceback" in result.stderr) is debug
    for text in (result.stdout, result.stderr, caplog.text):
        assert SENTINEL_KEY not in text
    assert len(api.request_log.entries()) == 1


def test_flags_override_environment(api: Emulator, run_cli: Run) -> None:
    os.environ["SOURCES__REFINER__API_KEY"] = SENTINEL_KEY
    os.environ["SOURCES__REFINER__BASE_URL"] = "http://127.0.0.1:9/v1"
    result = run_cli(
        "tools", "get-segments", "--api-key", DEFAULT_API_KEY, "--base-url", api.base_url
    )
    assert len(output(result)["items"]) == len(api.store.segments)


def test_console_script_in_a_subprocess(api: Emulator, dlt_project: DltProject) -> None:
    env = {
        **os.environ,
        "SOURCES__REFINER__API_KEY": SENTINEL_KEY,
        "SOURCES__REFINER__BASE_URL": api.base_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "tools", "get-account-info"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.startswith("Error: Authentication failed")
    assert SENTINEL_KEY not in done.stdout + done.stderr
