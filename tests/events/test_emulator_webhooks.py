"""The emulator sends Refiner-shaped webhooks, with faults, and the receiver lands each once
and acts once: the loop `refiner demo --listen` shows."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from pipelines.events.payload import parse_body
from pipelines.events.receiver import ReceiverSettings
from pipelines.events.service import ServiceOptions
from tests.events.helpers import duckdb_rows, hook_server, running_receiver, wait_for

SECRET = "sentinel-secret-e3d4"
SEED = SeedConfig(seed=4, contacts=20, accounts=4, forms=3, segments=2, responses=60, days=5)


def nps_form(emulator: Emulator) -> tuple[str, str]:
    """(form uuid, nps question identifier) of a seeded form with an NPS question."""
    for form in emulator.store.dump()["forms"]:
        for element in form["config"]["form_elements"]:
            if element["type"] == "nps":
                return form["uuid"], element["id"]
    raise AssertionError("the seed has no NPS form")


def test_faulty_deliveries_land_once_and_act_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules]]\nname = "detractor"\nevent = "Completed Survey"\n'
        'when = "answers.nps is defined and answers.nps <= 6"\n'
        '[[rules.actions]]\ntype = "track-event"\nevent = "NPS detractor"\n'
    )
    options = ServiceOptions(
        tmp_path / "ev" / "spool.sqlite", duckdb_path=str(tmp_path / "w.duckdb"), rules_path=rules
    )
    with Emulator(SEED).start() as emulator:
        monkeypatch.setenv("SOURCES__REFINER__API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("SOURCES__REFINER__BASE_URL", emulator.base_url)
        admin = httpx.Client(base_url=emulator.admin_url)
        faults = {"duplicate": True, "out_of_order": True, "delay_seconds": 0.2, "retries": 2}
        assert admin.put("/webhooks/faults", json=faults).status_code == 200
        form, question = nps_form(emulator)
        contacts = [c for c in emulator.store.dump()["contacts"] if c["remote_id"]][:6]
        with running_receiver(options, ReceiverSettings(SECRET)) as (url, _):
            target = {"url": f"{url}/webhooks/refiner", "token": SECRET}
            assert admin.post("/webhooks", json=target).status_code == 200
            for score, contact in zip([0, 3, 6, 7, 9, 10], contacts, strict=True):
                body = {"form_uuid": form, "contact_uuid": contact["uuid"]}
                added = admin.post("/responses", json={**body, "data": {question: score}})
                assert added.status_code == 200
            wait_for(lambda: len(emulator.request_log.filter(path="/track-event")) >= 3)
            deliveries = admin.get("/webhooks").json()["deliveries"]
        tracked = emulator.request_log.filter(path="/track-event")
    completed = [d for d in deliveries if d["triggered_event"] == "Completed Survey"]
    assert len(completed) == 12
    assert {d["status"] for d in completed} == {200}
    assert sorted(t.params["id"] for t in tracked) == sorted(c["remote_id"] for c in contacts[:3])
    assert {t.params["event"] for t in tracked} == {"NPS detractor"}
    rows = duckdb_rows(
        Path(str(options.duckdb_path)),
        "select count(*), count(distinct response_uuid) from refiner_raw.webhook_events"
        " where triggered_event = 'Completed Survey'",
    )
    assert rows == [(6, 6)]


def test_retries_on_non_2xx_and_payload_shape() -> None:
    with Emulator(SEED).start() as emulator, hook_server(statuses=[500]) as hook:
        admin = httpx.Client(base_url=emulator.admin_url)
        admin.put("/webhooks/faults", json={"retries": 2})
        admin.post("/webhooks", json={"url": f"{hook.url}/in", "token": "t0k"})
        dump = emulator.store.dump()
        contact = dump["contacts"][0]
        joined = {s["uuid"] for s in contact["segments"]}
        segment = next(s["uuid"] for s in dump["segments"] if s["uuid"] not in joined)
        admin.post(f"/segments/{segment}/contacts", json={"contact_uuid": contact["uuid"]})
        wait_for(lambda: len(hook.requests) == 2)
        deliveries = admin.get("/webhooks").json()["deliveries"]
    assert [(d["status"], d["attempt"]) for d in deliveries] == [(500, 0), (200, 1)]
    _, headers, body = hook.requests[1]
    assert headers["authorization"] == "Bearer t0k"
    delivery = parse_body(body)
    assert delivery.payload.triggered_event == "User enters segment"
    assert delivery.payload.uuid == contact["uuid"]
    assert segment in {s.uuid for s in delivery.payload.segments or ()}
    assert delivery.payload.response is None
