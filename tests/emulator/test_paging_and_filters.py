"""Pagination (§5, §11.4), ordering (§11.5) and filters (§3.4, §3.7, §3.11, §11.6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator import Emulator


def walk_cursor(api: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = {**params, **({"page_cursor": cursor} if cursor else {})}
        body = api.get(path, params=query).json()
        items.extend(body["items"])
        pages += 1
        cursor = body["pagination"]["next_page_cursor"]
        if cursor is None:
            assert len(body["items"]) <= body["pagination"]["page_length"]
            break
        assert body["items"]
    assert pages >= 5
    return items


def walk_pages(api: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    first = api.get(path, params=params).json()
    items = list(first["items"])
    last_page = first["pagination"]["last_page"]
    assert last_page >= 5
    for page in range(2, last_page + 1):
        body = api.get(path, params={**params, "page": page}).json()
        assert body["pagination"]["current_page"] == page
        items.extend(body["items"])
    return items


@pytest.mark.parametrize("path", ["/responses", "/contacts"])
def test_both_modes_cover_everything_once(api: httpx.Client, emulator: Emulator, path: str) -> None:
    params = {"page_length": 37, "include": "all"} if path == "/responses" else {"page_length": 11}
    by_cursor = walk_cursor(api, path, params)
    by_page = walk_pages(api, path, params)
    truth = emulator.store.responses if path == "/responses" else emulator.store.contacts
    assert [i["uuid"] for i in by_cursor] == [i["uuid"] for i in by_page]
    assert len({i["uuid"] for i in by_cursor}) == len(by_cursor) == len(truth)


def test_segments_cursor(make_emulator) -> None:
    emulator = make_emulator(segments=23)
    with httpx.Client(base_url=emulator.base_url, params={"api_key": emulator.api_key}) as api:
        items = walk_cursor(api, "/segments", {"page_length": 4})
    assert [s["name"] for s in items] == sorted(s["name"] for s in items)
    assert len({s["uuid"] for s in items}) == 23


def test_pagination_envelope(api: httpx.Client, emulator: Emulator) -> None:
    default = api.get("/contacts").json()["pagination"]
    assert default == {
        "items_count": 60,
        "current_page": 1,
        "last_page": 2,
        "page_length": 50,
        "next_page_cursor": default["next_page_cursor"],
    }
    assert default["next_page_cursor"]
    clamped = api.get("/contacts", params={"page_length": 5000}).json()["pagination"]
    assert clamped["page_length"] == 1000 and clamped["next_page_cursor"] is None
    empty = api.get("/contacts", params={"search": "no-such-contact"}).json()
    assert empty["items"] == [] and empty["pagination"]["last_page"] == 1
    assert empty["pagination"]["next_page_cursor"] is None
    beyond = api.get("/contacts", params={"page": 99}).json()
    assert beyond["items"] == [] and beyond["pagination"]["next_page_cursor"] is None


def test_cursor_wins_over_page_and_is_stable_under_inserts(
    api: httpx.Client, emulator: Emulator
) -> None:
    first = api.get("/responses", params={"page_length": 10}).json()
    cursor = first["pagination"]["next_page_cursor"]
    second = api.get("/responses", params={"page_length": 10, "page_cursor": cursor}).json()
    with_page = api.get(
        "/responses", params={"page_length": 10, "page_cursor": cursor, "page": 7}
    ).json()
    assert with_page["items"] == second["items"]
    person = next(iter(emulator.store.contacts))
    form = next(iter(emulator.store.forms))
    emulator.store.add_response(form_uuid=form, contact_uuid=person, data={"nps": 10})
    again = api.get("/responses", params={"page_length": 10, "page_cursor": cursor}).json()
    assert again["items"] == second["items"]
    assert again["pagination"]["items_count"] == second["pagination"]["items_count"] + 1


def test_ordering(api: httpx.Client) -> None:
    for include, field in (("completed", "last_data_reception_at"), ("all", "last_shown_at")):
        items = api.get("/responses", params={"include": include, "page_length": 1000}).json()[
            "items"
        ]
        stamps = [item[field] for item in items]
        assert stamps == sorted(stamps, reverse=True)
    for order_by in ("first_seen_at", "last_seen_at", "last_form_submission_at"):
        items = api.get("/contacts", params={"order_by": order_by, "page_length": 1000}).json()[
            "items"
        ]
        present = [item[order_by] for item in items if item[order_by] is not None]
        assert present == sorted(present, reverse=True)
        assert all(item[order_by] is None for item in items[len(present) :])
    names = [
        f["name"] for f in api.get("/forms", params={"list": "all_with_archived"}).json()["items"]
    ]
    assert names == sorted(names)


def test_include_and_date_range(api: httpx.Client, emulator: Emulator) -> None:
    truth = list(emulator.store.responses.values())

    def fetch(**params: Any) -> set[str]:
        body = api.get("/responses", params={**params, "page_length": 1000}).json()
        return {item["uuid"] for item in body["items"]}

    assert fetch() == {r["uuid"] for r in truth if r["completed_at"]}
    assert fetch(include="partials") == {r["uuid"] for r in truth if r["first_data_reception_at"]}
    assert fetch(include="all") == {r["uuid"] for r in truth}
    completed = sorted(
        (r for r in truth if r["completed_at"]), key=lambda r: r["last_data_reception_at"]
    )
    start = completed[10]["last_data_reception_at"]
    end = completed[50]["last_data_reception_at"]
    expected = {r["uuid"] for r in completed if start <= r["last_data_reception_at"] < end}
    assert fetch(date_range_start=start, date_range_end=end) == expected
    assert (
        fetch(
            date_range_start=start.replace(" ", "T") + "Z",
            date_range_end=end.replace(" ", "T") + "+00:00",
        )
        == expected
    )
    day = start[:10]
    assert fetch(date_range_start=day) == {
        r["uuid"] for r in completed if r["last_data_reception_at"] >= day
    }
    shown = sorted(truth, key=lambda r: r["last_shown_at"])
    mid = shown[200]["last_shown_at"]
    assert fetch(include="all", date_range_start=mid) == {
        r["uuid"] for r in truth if r["last_shown_at"] >= mid
    }


def test_response_filters(api: httpx.Client, emulator: Emulator) -> None:
    truth = [r for r in emulator.store.responses.values() if r["completed_at"]]

    def fetch(**params: Any) -> set[str]:
        body = api.get("/responses", params={**params, "page_length": 1000}).json()
        return {item["uuid"] for item in body["items"]}

    form = truth[0]["form"]["uuid"]
    assert fetch(form_uuid=form) == {r["uuid"] for r in truth if r["form"]["uuid"] == form}
    segment = next(iter(emulator.store.segments))
    members = {
        uuid
        for uuid, c in emulator.store.contacts.items()
        if any(s["uuid"] == segment for s in c["segments"])
    }
    assert fetch(segment_uuid=segment) == {
        r["uuid"] for r in truth if r["contact"]["uuid"] in members
    }
    tagged = next(r for r in truth if r["tags"])
    tag = tagged["tags"][0]["uuid"]
    assert fetch(tag_uuid=tag) == {
        r["uuid"] for r in truth if any(t["uuid"] == tag for t in r["tags"])
    }
    remote_id = next(r["contact"]["remote_id"] for r in truth if r["contact"]["remote_id"])
    assert fetch(search=remote_id) >= {
        r["uuid"] for r in truth if r["contact"]["remote_id"] == remote_id
    }
    nps = next(r for r in truth if "nps" in r["data"])
    assert fetch(**{"response_data[nps]": nps["data"]["nps"]}) == {
        r["uuid"] for r in truth if r["data"].get("nps") == nps["data"]["nps"]
    }


def test_contact_filters(api: httpx.Client, emulator: Emulator) -> None:
    def fetch(**params: Any) -> set[str]:
        return {
            c["uuid"]
            for c in api.get("/contacts", params={**params, "page_length": 1000}).json()["items"]
        }

    segment = next(iter(emulator.store.segments))
    assert fetch(segment_uuid=segment) == {
        uuid
        for uuid, c in emulator.store.contacts.items()
        if any(s["uuid"] == segment for s in c["segments"])
    }
    form = next(iter(emulator.store.forms))
    assert fetch(form_uuid=form) == {
        r["contact"]["uuid"] for r in emulator.store.responses.values() if r["form"]["uuid"] == form
    }
    assert fetch(search="USER1@EXAMPLE1.COM") == {
        uuid for uuid, c in emulator.store.contacts.items() if c["email"] == "user1@example1.com"
    }


def test_form_lists(api: httpx.Client, emulator: Emulator) -> None:
    def names(state: str) -> set[str]:
        return {f["uuid"] for f in api.get("/forms", params={"list": state}).json()["items"]}

    forms = emulator.store.forms
    archived = {u for u, f in forms.items() if f["archived_at"]}
    drafts = {u for u, f in forms.items() if not f["published_at"] and not f["archived_at"]}
    assert archived and drafts
    assert names("archived") == archived
    assert names("drafts") == drafts
    assert names("published") == {
        u for u, f in forms.items() if f["published_at"] and not f["archived_at"]
    }
    assert names("all") == set(forms) - archived
    assert names("all_with_archived") == set(forms)
