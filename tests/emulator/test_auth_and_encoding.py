"""Auth variants (§1.2, §7.1, §11.1) and parameter encodings (§1.3, §11.2)."""

from __future__ import annotations

import httpx
import pytest

from emulator import DEFAULT_API_KEY, Emulator


@pytest.mark.parametrize(
    ("kwargs", "status", "body"),
    [
        ({}, 401, {"error": "No API key found in headers"}),
        (
            {"headers": {"Authorization": "Bearer abc"}},
            401,
            {"error": "No API key found in headers"},
        ),
        (
            {"headers": {"Authorization": "Bearer not a key at all"}},
            401,
            {"error": "API key does not look valid"},
        ),
        (
            {"headers": {"Authorization": "Bearer 11111111-2222-3333-4444-555555555555"}},
            404,
            {"message": "API key not valid or does not exist"},
        ),
        (
            {"headers": {"Authorization": "Bearer " + "ab" * 20}},
            404,
            {"message": "API key not valid or does not exist"},
        ),
    ],
)
def test_bad_keys(emulator: Emulator, kwargs: dict, status: int, body: dict) -> None:
    reply = httpx.get(emulator.base_url + "/", **kwargs)
    assert (reply.status_code, reply.json()) == (status, body)


def test_every_way_to_send_the_key(emulator: Emulator) -> None:
    url = emulator.base_url + "/"
    key = emulator.api_key
    assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert httpx.get(url, params={"api_key": key}).status_code == 200
    assert httpx.get(url, auth=(key, "")).status_code == 200
    assert (
        httpx.post(
            emulator.base_url + "/track-event", data={"api_key": key, "id": "u", "event": "e"}
        ).status_code
        == 202
    )
    assert (
        httpx.post(
            emulator.base_url + "/track-event", json={"api_key": key, "id": "u", "event": "e"}
        ).status_code
        == 202
    )


def test_custom_keys_and_redaction(make_emulator) -> None:
    sentinel = "SENTINEL-KEY-do-not-leak"
    emulator = make_emulator(api_keys=(sentinel,))
    assert (
        httpx.get(emulator.base_url + "/", params={"api_key": DEFAULT_API_KEY}).status_code == 404
    )
    assert (
        httpx.get(
            emulator.base_url + "/", headers={"Authorization": f"Bearer {sentinel}"}
        ).status_code
        == 200
    )
    httpx.get(emulator.base_url + "/", params={"api_key": sentinel})
    for entry in emulator.request_log:
        assert sentinel not in repr(entry)
    assert emulator.request_log[1].headers["authorization"] == "REDACTED"
    assert emulator.request_log[-1].params["api_key"] == "REDACTED"


def test_form_and_json_and_query_bodies_for_every_method(
    api: httpx.Client, emulator: Emulator
) -> None:
    api.post(
        "/identify-user",
        data={"id": "enc-1", "plan": "pro", "account[id]": "acme", "account[name]": "Acme"},
    )
    api.post(
        "/identify-user",
        json={"id": "enc-1", "seats": 3, "beta": True, "attributes": {"nested": "yes"}},
    )
    api.post("/identify-user", params={"id": "enc-1", "country": "FR"})
    contact = api.get("/contact", params={"id": "enc-1"}).json()
    assert contact["attributes"] == {
        "plan": "pro",
        "seats": 3,
        "beta": True,
        "nested": "yes",
        "country": "FR",
    }
    assert contact["account"]["remote_id"] == "acme"
    assert contact["account"]["display_name"] == "Acme"
    reply = api.request("DELETE", "/contact", json={"id": "enc-1"})
    assert reply.status_code == 200
    assert emulator.store.find_contact(remote_id="enc-1") is None


def test_array_filters_in_every_spelling(api: httpx.Client, emulator: Emulator) -> None:
    forms = [uuid for uuid, f in emulator.store.forms.items() if f["responses_count"]][:2]
    expected = {
        uuid
        for uuid, r in emulator.store.responses.items()
        if r["form"]["uuid"] in forms and r["completed_at"]
    }

    def uuids(params: list[tuple[str, str]]) -> set[str]:
        body = api.get("/responses", params=[*params, ("page_length", "1000")]).json()
        return {item["uuid"] for item in body["items"]}

    assert uuids([("form_uuids[]", forms[0]), ("form_uuids[]", forms[1])]) == expected
    assert uuids([("form_uuids", ",".join(forms))]) == expected
    assert uuids([("form_uuid", forms[0]), ("form_uuids[]", forms[1])]) == expected


def test_boolean_spellings(api: httpx.Client) -> None:
    for truthy in ("1", "true"):
        item = api.get("/forms", params={"include_info": truthy}).json()["items"][0]
        assert "channels" in item
    for falsy in ("0", "false"):
        item = api.get("/forms", params={"include_info": falsy}).json()["items"][0]
        assert list(item) == ["uuid", "name"]
