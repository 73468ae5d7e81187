"""Side effects of writes (§11.10) and reporting arithmetic (§3.10, §4.6)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from emulator import Emulator


def test_identify_user_upserts_merges_and_groups(api: httpx.Client, emulator: Emulator) -> None:
    emulator.clock.set(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    first = api.post(
        "/identify-user",
        json={
            "id": "se-1",
            "email": "se@example.com",
            "plan": "pro",
            "signed_up_at": "2024-05-20T19:02:11+02:00",
        },
    ).json()
    second = api.post(
        "/identify-user",
        json={
            "id": "se-1",
            "seats": 4,
            "account": {"id": "acme", "name": "Acme", "domain": "acme.io", "industry": "Software"},
        },
    ).json()
    assert first["contact_uuid"] == second["contact_uuid"]
    by_email = api.post("/identify-user", json={"email": "se@example.com", "beta": True}).json()
    assert by_email["contact_uuid"] == first["contact_uuid"]
    contact = emulator.store.render_contact(first["contact_uuid"])
    assert contact["attributes"] == {
        "plan": "pro",
        "signed_up_at": "2024-05-20T17:02:11.000000Z",
        "seats": 4,
        "beta": True,
    }
    assert contact["last_seen_at"] == "2030-01-02T03:04:05.000000Z"
    assert contact["account"]["display_name"] == "Acme"
    assert contact["account"]["domain"] == "acme.io"
    assert contact["account"]["attributes"] == {"industry": "Software"}


def test_delete_contact_cascades(api: httpx.Client, emulator: Emulator) -> None:
    victim = next(c for c in emulator.store.contact_records.values() if c.responses and c.remote_id)
    owned = {r.uuid for r in victim.responses}
    assert api.delete("/contact", params={"id": victim.remote_id}).status_code == 200
    remaining = api.get("/responses", params={"include": "all", "page_length": 1000}).json()[
        "items"
    ]
    assert owned.isdisjoint(item["uuid"] for item in remaining)
    assert api.get("/contact", params={"uuid": victim.uuid}).status_code == 404


def test_track_event_records_and_creates(api: httpx.Client, emulator: Emulator) -> None:
    before = len(emulator.store.events)
    api.post("/track-event", json={"id": "brand-new", "event": "Upgraded plan"})
    api.post("/track", data={"email": "x@example.com", "event": "Exported"})
    events = emulator.store.events[before:]
    assert [e["event"] for e in events] == ["Upgraded plan", "Exported"]
    contact = api.get("/contact", params={"id": "brand-new"}).json()
    assert contact["last_tracking_event_at"] is not None
    assert events[0]["contact_uuid"] == contact["uuid"]


def test_stored_response_appears_everywhere(api: httpx.Client, emulator: Emulator) -> None:
    form = next(f for f in emulator.store.form_records.values() if f.question("nps"))
    reply = api.post(
        "/responses",
        data={
            "form_uuid": form.uuid,
            "id": "importer",
            "nps": "10",
            "date": "2030-01-01 10:00:00",
            "tags[]": ["vip", "imported"],
        },
    )
    uuid = reply.json()["uuid"]
    again = api.post(
        "/responses",
        data={"form_uuid": form.uuid, "id": "importer", "nps": "10", "date": "2030-01-01 10:00:00"},
    )
    assert again.json()["uuid"] == uuid
    forced = api.post(
        "/responses",
        json={"form_uuid": form.uuid, "id": "importer", "nps": 10, "prevent_duplicates": False},
    )
    assert forced.json()["uuid"] != uuid
    newest = api.get("/responses", params={"date_range_start": "2030-01-01"}).json()["items"]
    assert newest[0]["uuid"] == uuid and newest[0]["data"] == {"nps": 10}
    assert newest[0]["completed_at"] == "2030-01-01 10:00:00"
    assert {t["name"] for t in newest[0]["tags"]} == {"vip", "imported"}
    contact = api.get("/contact", params={"id": "importer"}).json()
    assert contact["attributes"]["nps"] == "10"
    api.post("/responses/tags", json={"uuid": uuid, "tags": ["late"]})
    assert [t["name"] for t in emulator.store.render_response(uuid)["tags"]] == [
        "vip",
        "imported",
        "late",
    ]
    assert (
        api.post("/responses", json={"form_uuid": "missing", "id": "importer"}).status_code == 404
    )
    assert api.post("/responses/tags", json={"uuid": "missing", "tags": ["x"]}).status_code == 404


def test_segments_and_forms_writes(api: httpx.Client, emulator: Emulator) -> None:
    segments = emulator.store.segments
    manual = next(u for u, s in segments.items() if s["is_manual"])
    automatic = next(u for u, s in segments.items() if not s["is_manual"])
    added = api.post("/sync-segment", json={"segment_uuid": manual, "id": "seg-new"}).json()
    contact = api.get("/contact", params={"id": "seg-new"}).json()
    assert [s["uuid"] for s in contact["segments"]] == [manual] and added[
        "contact_uuid"
    ] == contact["uuid"]
    assert (
        api.post("/sync-segment", json={"segment_uuid": automatic, "id": "seg-new"}).status_code
        == 400
    )
    api.request("DELETE", "/sync-segment", json={"segment_uuid": manual, "id": "seg-new"})
    assert api.get("/contact", params={"id": "seg-new"}).json()["segments"] == []
    form = next(
        u for u, f in emulator.store.forms.items() if f["published_at"] and not f["archived_at"]
    )
    api.post("/forms/publish", data={"form_uuid": form, "published": "0"})
    assert emulator.store.forms[form]["published_at"] is None
    copy = api.post("/forms/duplicate", json={"form_uuid": form, "name": "Copy ✨"}).json()[
        "new_form_uuid"
    ]
    assert (
        emulator.store.forms[copy]["name"] == "Copy ✨"
        and emulator.store.forms[copy]["published_at"] is None
    )
    api.delete("/forms", params={"form_uuid": form})
    assert emulator.store.forms[form]["archived_at"] is not None
    assert form not in {f["uuid"] for f in api.get("/forms").json()["items"]}
    actions = [
        e["action"] for e in api.get("/forms/history", params={"form_uuid": form}).json()["items"]
    ]
    assert actions[:2] == ["archive", "unpublish"]


def test_reporting_arithmetic(make_emulator) -> None:
    emulator = make_emulator(responses=0)
    store = emulator.store
    emulator.clock.set(datetime(2030, 3, 10, 12, tzinfo=UTC))
    form = store.add_form(
        name="R",
        questions=[
            {"id": "nps", "type": "nps"},
            {"id": "csat", "type": "csat"},
            {"id": "stars", "type": "rating"},
            {"id": "pick", "type": "multiple_choice", "options": ["a", "b"]},
        ],
    )
    person = next(iter(store.contacts))
    answers = [
        (10, 5, 5, ("a",)),
        (9, 4, 4, ("a", "b")),
        (8, 3, 3, ("b",)),
        (3, 1, 1, ("a",)),
        (10, 5, 2, ("b",)),
        (0, 2, 5, ("a",)),
    ]
    for nps, csat, stars, pick in answers:
        store.add_response(
            form_uuid=form,
            contact_uuid=person,
            at="2030-03-09 08:00:00",
            data={"nps": nps, "csat": csat, "stars": stars, "pick": list(pick)},
        )
    store.add_response(form_uuid=form, contact_uuid=person, at="2030-03-09 09:00:00", state="seen")
    store.add_response(form_uuid=form, contact_uuid=person, at="2030-01-01", data={"nps": 0})
    with httpx.Client(base_url=emulator.base_url, params={"api_key": emulator.api_key}) as api:

        def report(kind: str, **params: str) -> dict:
            return api.get(
                "/reporting", params={"type": kind, "form_uuids[]": form, **params}
            ).json()

        window = {
            "date_range_start": "2030-03-03 00:00:00",
            "date_range_end": "2030-03-10 23:59:59",
        }
        assert report("nps") == {
            "nps": 17,
            "count": 6,  # round(100 * (3 - 2) / 6) = 17
            "data": {"detractors": 2, "passives": 1, "promoters": 3},
            **window,
        }
        assert report("csat") == {
            "csat": 50,
            "count": 6,
            "data": {  # 3 of 6 satisfied
                "very_unsatisfied": 1,
                "unsatisfied": 1,
                "neutral": 1,
                "satisfied": 1,
                "very_satisfied": 2,
            },
            **window,
        }
        assert report("ratings") == {
            "average": 3.33,
            "sum": 20,
            "count": 6,
            "data": {"1": 1, "2": 1, "3": 1, "4": 1, "5": 2},
            **window,
        }
        distribution = report("distribution", **{"question_identifiers[]": "pick"})
        assert distribution == {"datapoints": 7, "responses": 6, "data": {"a": 4, "b": 3}, **window}
        assert report("count") == {"views": 7, "responses": 6, **window}
        wide = report("nps", date_range_start="2030-01-01", date_range_end="2030-03-09 08:00:00")
        assert (wide["count"], wide["nps"]) == (1, -100)
        assert wide["date_range_start"] == "2030-01-01 00:00:00"
