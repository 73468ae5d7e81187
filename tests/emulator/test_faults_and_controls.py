"""Fault injection (every kind and switch), request log, clock and the admin HTTP API."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from emulator import FAULT_KINDS, Emulator
from emulator.timefmt import parse_instant

HOUR = 3600


def test_status_rules_count_down(api: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add("status", status=429, retry_after=1, times=3, path="/responses")
    statuses = [api.get("/responses").status_code for _ in range(4)]
    assert statuses == [429, 429, 429, 200]
    limited = [e for e in emulator.request_log if e.status == 429]
    assert len(limited) == 3
    emulator.faults.add("status", status=429, retry_after=2, path="/contacts")
    reply = api.get("/contacts")
    assert reply.headers["retry-after"] == "2"
    assert reply.json() == {"error": "You are doing this too often."}
    for status in (500, 502, 503, 504):
        emulator.faults.add("status", status=status)
        assert api.get("/").status_code == status
        assert api.get("/").status_code == 200


def test_rejecting_specific_rows_has_no_side_effect(api: httpx.Client, emulator: Emulator) -> None:
    rejected = ["r-2", "r-4"]
    emulator.faults.add(
        "status", status=422, path="/identify-user", match={"id": rejected}, times=2
    )
    first = [api.post("/identify-user", json={"id": f"r-{i}"}).status_code for i in range(5)]
    assert first == [202, 202, 422, 202, 422]
    assert emulator.store.find_contact(remote_id="r-2") is None
    second = [api.post("/identify-user", json={"id": rid}).status_code for rid in rejected]
    assert second == [202, 202]


def test_skip_lets_first_matches_pass(api: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add("status", status=503, skip=2, path="/segments")
    assert [api.get("/segments").status_code for _ in range(4)] == [200, 200, 503, 200]


@pytest.mark.parametrize("kind", ["reset", "drop", "truncate"])
def test_connection_faults(api: httpx.Client, emulator: Emulator, kind: str) -> None:
    emulator.faults.add(kind, path="/contacts")
    with pytest.raises(httpx.TransportError):
        api.get("/contacts")
    assert api.get("/contacts").status_code == 200


def test_delay_causes_read_timeout(emulator: Emulator) -> None:
    emulator.faults.add("delay", delay=1.0)
    with httpx.Client(base_url=emulator.base_url, params={"api_key": emulator.api_key}) as api:
        with pytest.raises(httpx.ReadTimeout):
            api.get("/", timeout=0.2)
        started = time.monotonic()
        assert api.get("/", timeout=5).status_code == 200
        assert time.monotonic() - started < 0.5


def test_body_faults(api: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add("malformed", path="/responses")
    reply = api.get("/responses")
    assert reply.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(reply.content)
    emulator.faults.add("html", path="/responses")
    reply = api.get("/responses")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    emulator.faults.add("items_missing", path="/responses")
    assert "items" not in api.get("/responses").json()
    emulator.faults.add("items_not_list", path="/responses")
    assert isinstance(api.get("/responses").json()["items"], dict)


def test_page_faults(api: httpx.Client, emulator: Emulator) -> None:
    first = api.get("/responses", params={"page_length": 5}).json()
    cursor = first["pagination"]["next_page_cursor"]
    emulator.faults.add("empty_page", path="/responses")
    empty = api.get("/responses", params={"page_length": 5}).json()
    assert empty["items"] == [] and empty["pagination"]["next_page_cursor"]
    emulator.faults.add("repeat_cursor", path="/responses")
    repeated = api.get("/responses", params={"page_length": 5, "page_cursor": cursor}).json()
    assert repeated["pagination"]["next_page_cursor"] == cursor
    emulator.faults.add("duplicate_items", path="/responses")
    duplicated = api.get("/responses", params={"page_length": 5, "page_cursor": cursor}).json()
    assert duplicated["items"][0] == first["items"][-1] and len(duplicated["items"]) == 6
    emulator.faults.add("missing_field", path="/responses", count=2)
    stripped = api.get("/responses", params={"page_length": 5}).json()["items"]
    assert ["last_data_reception_at" in item for item in stripped] == [
        False,
        False,
        True,
        True,
        True,
    ]
    emulator.faults.add("missing_field", path="/contacts", field="last_seen_at")
    assert all("last_seen_at" not in c for c in api.get("/contacts").json()["items"])


def test_a_stale_copy_is_the_first_item_from_before_an_edit(
    api: httpx.Client, emulator: Emulator
) -> None:
    fresh = api.get("/responses", params={"page_length": 2}).json()["items"]
    emulator.faults.add("stale_copy", path="/responses")
    stale, *rest = api.get("/responses", params={"page_length": 2}).json()["items"]
    assert rest == fresh and stale["uuid"] == fresh[0]["uuid"]
    assert parse_instant(stale["last_data_reception_at"]) == (
        parse_instant(fresh[0]["last_data_reception_at"]) - HOUR
    )
    assert stale["data"].keys() == fresh[0]["data"].keys()
    for question, value in stale["data"].items():
        answered = fresh[0]["data"][question]
        assert value == (
            ["before the edit"] * len(answered) if isinstance(answered, list) else "before the edit"
        )

    contact = api.get("/contacts", params={"page_length": 1}).json()["items"][0]
    emulator.faults.add("stale_copy", path="/contacts", field="last_seen_at")
    stale, fresh_contact = api.get("/contacts", params={"page_length": 1}).json()["items"]
    assert fresh_contact == contact and stale["last_seen_at"].endswith("Z")
    assert parse_instant(stale["last_seen_at"]) == parse_instant(contact["last_seen_at"]) - HOUR
    assert stale["attributes"] and all(
        value in ("before the edit", ["before the edit"] * len(value))
        for value in stale["attributes"].values()
    )


def test_timestamp_styles(api: httpx.Client, emulator: Emulator) -> None:
    plain = api.get("/responses", params={"page_length": 3}).json()["items"]
    emulator.faults.add("timestamps", style="mixed", path="/responses")
    mixed = api.get("/responses", params={"page_length": 3}).json()["items"]
    for before, after in zip(plain, mixed, strict=True):
        moment = datetime.fromisoformat(after["completed_at"].replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        assert moment == datetime.fromisoformat(before["completed_at"]).replace(tzinfo=UTC)
    assert [m["completed_at"][19:] for m in mixed] == ["", "+02:00", "Z"]


def test_switchable_faults(api: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.configure(error_rate=1.0, error_statuses=(503,))
    assert api.get("/").status_code == 503
    emulator.faults.configure(error_rate=0.0, drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        api.get("/")
    emulator.faults.configure(drop_rate=0.0, malformed_rate=1.0)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(api.get("/responses").content)
    emulator.faults.configure(malformed_rate=0.0, duplicate_items=True)
    first = api.get("/contacts", params={"page_length": 5}).json()
    second = api.get("/contacts", params={"page_length": 5, "page": 2}).json()
    assert second["items"][0] == first["items"][-1]
    emulator.faults.clear()
    emulator.faults.configure(latency_ms=150)
    started = time.monotonic()
    api.get("/")
    assert time.monotonic() - started >= 0.15


def test_rate_limit_token_bucket(api: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.configure(rate_limit_per_second=5, rate_limit_burst=5)
    statuses = [api.get("/").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    limited = next(e for e in emulator.request_log if e.status == 429)
    assert limited.path == "/"
    time.sleep(1.1)
    assert api.get("/").status_code == 200


def test_fault_kinds_are_documented() -> None:
    assert set(FAULT_KINDS) == {
        "status",
        "reset",
        "drop",
        "delay",
        "truncate",
        "malformed",
        "html",
        "items_missing",
        "items_not_list",
        "empty_page",
        "repeat_cursor",
        "duplicate_items",
        "stale_copy",
        "missing_field",
        "timestamps",
    }


def test_request_log_entries(api: httpx.Client, emulator: Emulator) -> None:
    emulator.request_log.clear()
    api.post("/identify-user", json={"id": "log-1", "plan": "pro"}, params={"x[]": ["1", "2"]})
    api.get("/contacts", params={"page_length": 2})
    first, second = emulator.request_log[:]
    assert (first.method, first.path, first.status) == ("POST", "/identify-user", 202)
    assert first.params == {"x": ["1", "2"], "id": "log-1", "plan": "pro"}
    assert first.headers["authorization"] == "REDACTED"
    assert first.headers["content-type"] == "application/json"
    assert (second.method, second.path, second.params) == ("GET", "/contacts", {"page_length": "2"})
    assert first.at <= second.at <= time.monotonic()


def test_clock(emulator: Emulator) -> None:
    emulator.clock.set("2031-01-01T00:00:00Z")
    assert emulator.clock.now() == datetime(2031, 1, 1, tzinfo=UTC)
    emulator.clock.advance(90)
    assert emulator.clock.now() == datetime(2031, 1, 1, 0, 1, 30, tzinfo=UTC)


def test_admin_http_api(emulator: Emulator) -> None:
    admin = httpx.Client(base_url=emulator.admin_url)
    api = httpx.Client(base_url=emulator.base_url, params={"api_key": emulator.api_key})
    assert admin.get("/health").json()["ok"] is True
    rule = admin.post("/faults", json={"kind": "status", "status": 503, "times": 1}).json()
    assert rule["remaining"] == 1
    assert api.get("/").status_code == 503
    assert admin.get("/faults").json()["rules"][0]["hits"] == 1
    admin.delete("/faults")
    admin.post("/clock", json={"set": "2032-02-02T00:00:00Z"})
    assert admin.get("/clock").json()["now"].startswith("2032-02-02T00:00:00")
    contact = admin.post("/contacts", json={"remote_id": "adm-1", "attributes": {"a": 1}}).json()[
        "uuid"
    ]
    form = admin.post(
        "/forms", json={"name": "Admin form", "questions": [{"id": "nps", "type": "nps"}]}
    ).json()["uuid"]
    response = admin.post(
        "/responses", json={"form_uuid": form, "contact_uuid": contact, "data": {"nps": 7}}
    ).json()["uuid"]
    admin.patch(
        f"/responses/{response}",
        json={"data": {"nps": 9}, "last_data_reception_at": "2032-02-02T00:00:01Z"},
    )
    assert emulator.store.render_response(response)["data"] == {"nps": 9}
    segment = admin.post("/segments", json={"name": "Admin seg", "is_manual": True}).json()["uuid"]
    admin.post(f"/segments/{segment}/contacts", json={"contact_uuid": contact})
    admin.post("/events", json={"contact_uuid": contact, "event": "Admin event"})
    dump = admin.get("/dump").json()
    assert {"contacts", "responses", "forms", "segments", "events", "accounts", "tags"} <= set(dump)
    assert any(c["uuid"] == contact and c["segments"] for c in dump["contacts"])
    api.get("/contacts")
    log = admin.get("/requests", params={"path": "/contacts"}).json()["items"]
    assert len(log) == 1 and log[0]["headers"].get("authorization") is None
    admin.delete("/requests")
    assert admin.get("/requests").json()["items"] == []
    admin.delete(f"/contacts/{contact}")
    assert response not in emulator.store.responses
    assert admin.delete("/contacts/missing").status_code == 404
    assert (
        admin.post("/prewarm", json={"path": "/responses", "page_length": 100}).json()["pages"] >= 1
    )
    assert admin.get("/cache").json()["entries"] >= 1


def test_same_seed_same_data(make_emulator) -> None:
    end = datetime(2030, 1, 1, tzinfo=UTC)
    one = make_emulator(end=end)
    two = make_emulator(end=end)
    assert one.store.dump() == two.store.dump()
    three = make_emulator(end=end, seed=8)
    assert three.store.dump()["responses"] != one.store.dump()["responses"]
