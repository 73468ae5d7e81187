"""RefinerClient end to end over real HTTP against the emulator, checked against its store."""

from __future__ import annotations

import math
from typing import Any

import pytest

from emulator import Emulator
from sources.refiner.errors import NotFoundError, ServerError
from sources.refiner.models import Contact, Form, Response, Segment, decode
from tests.client.helpers import MakeClient


def requests_to(emulator: Emulator, path: str) -> list[Any]:
    return [entry for entry in emulator.request_log.entries() if entry.path == path]


def test_verify_and_account_info(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    probe = client.verify()
    assert probe == {
        "project_uuid": emulator.store.project_uuid,
        "project_name": "Production",
        "message": "Authentication successful",
    }
    info = client.get_account_info()
    assert info.subscription.plan
    assert info.subscription.mtu_count is not None and info.subscription.mtu_limit
    assert info.subscription.mtu_count_updated_at is not None
    assert info.subscription.mtu_count_updated_at.tzinfo is not None
    assert emulator.store.project_uuid in {env.uuid for env in info.environments}
    assert [(e.method, e.path) for e in emulator.request_log.entries()] == [
        ("GET", "/"),
        ("GET", "/account"),
    ]


@pytest.mark.parametrize("paging", ["cursor", "page"])
def test_contacts_across_pages_without_duplicates_or_gaps(
    emulator: Emulator, make_client: MakeClient, paging: str
) -> None:
    client = make_client(emulator)
    expected = set(emulator.store.contacts)
    page_length = math.ceil(len(expected) / 6)
    got = [contact.uuid for contact in client.get_contacts(page_length=page_length, paging=paging)]  # type: ignore[arg-type]
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == expected
    sent = requests_to(emulator, "/contacts")
    assert len(sent) == math.ceil(len(expected) / page_length) >= 5
    if paging == "cursor":
        assert "page_cursor" not in sent[0].params
        assert all(entry.params.get("page_cursor") for entry in sent[1:])
    else:
        assert [int(entry.params["page"]) for entry in sent] == list(range(1, len(sent) + 1))


@pytest.mark.parametrize("paging", ["cursor", "page"])
def test_responses_across_pages_in_both_modes(
    emulator: Emulator, make_client: MakeClient, paging: str
) -> None:
    client = make_client(emulator)
    got = list(client.get_responses(include="all", page_length=60, paging=paging))  # type: ignore[arg-type]
    uuids = [response.uuid for response in got]
    assert len(uuids) == len(set(uuids)) == len(emulator.store.responses)
    assert set(uuids) == set(emulator.store.responses)
    assert len(requests_to(emulator, "/responses")) >= 5
    first = got[0]
    assert first == decode(Response, emulator.store.render_response(first.uuid))


def test_response_filters(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    completed = list(client.get_responses(page_length=1000))
    truth = [r for r in emulator.store.responses.values() if r["completed_at"] is not None]
    assert {r.uuid for r in completed} == {r["uuid"] for r in truth}
    received = [r.last_data_reception_at for r in completed]
    assert received == sorted(received, reverse=True)  # newest first
    form_uuid = truth[0]["form"]["uuid"]
    middle = received[len(received) // 2]
    assert middle is not None
    one_form = list(
        client.get_responses(
            form_uuids=[form_uuid], date_range_start=middle, with_attributes=True, page_length=1000
        )
    )
    assert one_form and all(r.form is not None and r.form.uuid == form_uuid for r in one_form)
    assert all(r.last_data_reception_at and r.last_data_reception_at >= middle for r in one_form)
    assert all(r.contact is not None and r.contact.attributes is not None for r in one_form)
    params = requests_to(emulator, "/responses")[-1].params
    assert params["with_attributes"] == "1"
    assert params["include"] == "completed"


def test_get_contact_by_each_identifier(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    record = next(c for c in emulator.store.contacts.values() if c["remote_id"] and c["email"])
    expected = decode(Contact, emulator.store.render_contact(record["uuid"]))
    assert client.get_contact(uuid=record["uuid"]) == expected
    assert client.get_contact(id=record["remote_id"]) == expected
    assert client.get_contact(email=record["email"]).uuid == record["uuid"]
    with pytest.raises(NotFoundError) as raised:
        client.get_contact(id="no-such-user")
    assert raised.value.status == 404


def test_update_contact_creates_then_merges_traits(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    created = client.update_contact(
        id="u-new",
        email="new@example.org",
        traits={"plan": "pro", "seats": 12, "beta": True},
        account={"id": "acme", "name": "Acme"},
    )
    assert created.message == "ok" and created.contact_uuid
    client.update_contact(id="u-new", traits={"plan": "enterprise"})
    record = emulator.store.contacts[created.contact_uuid]
    assert record["remote_id"] == "u-new"
    assert record["attributes"]["plan"] == "enterprise"
    assert record["attributes"]["seats"] == 12 and record["attributes"]["beta"] is True
    assert record["account"]["remote_id"] == "acme"
    assert requests_to(emulator, "/identify-user")[0].params["account"] == {
        "id": "acme",
        "name": "Acme",
    }


def test_delete_contact_cascades(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    victim = next(iter(emulator.store.responses.values()))["contact"]["uuid"]
    assert client.delete_contact(uuid=victim) == {"message": "ok"}
    assert victim not in emulator.store.contacts
    assert all(r["contact"]["uuid"] != victim for r in emulator.store.responses.values())
    with pytest.raises(NotFoundError):
        client.delete_contact(uuid=victim)


def test_track_event(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    record = next(c for c in emulator.store.contacts.values() if c["remote_id"])
    assert client.track_event("Upgraded plan", id=record["remote_id"]) == {"message": "ok"}
    last = emulator.store.events[-1]
    assert (last["event"], last["contact_uuid"]) == ("Upgraded plan", record["uuid"])


def test_forms_and_form_writes(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    live = {u for u, f in emulator.store.forms.items() if f["archived_at"] is None}
    forms = list(client.get_forms(include_info=True, page_length=2))
    assert {f.uuid for f in forms} == live
    assert all(isinstance(f, Form) and f.created_at is not None for f in forms)
    target = forms[0].uuid
    copy = client.duplicate_form(target, "Copy of survey")
    assert copy.source_form_uuid == target and copy.new_form_uuid in emulator.store.forms
    assert client.publish_form(copy.new_form_uuid or "", published=True) == {"message": "ok"}
    assert emulator.store.forms[copy.new_form_uuid or ""]["published_at"] is not None
    assert client.archive_form(target) == {"message": "ok"}
    assert target in {f.uuid for f in client.get_forms(list="archived")}
    assert target not in {f.uuid for f in client.get_forms()}
    history = list(client.get_form_history(copy.new_form_uuid or ""))
    assert history and all(version.action for version in history)


def test_segments_and_membership(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    segments = list(client.get_segments(page_length=2))
    assert {s.uuid for s in segments} == set(emulator.store.segments)
    assert segments == [decode(Segment, emulator.store.render_segment(s.uuid)) for s in segments]
    manual = next(s for s in segments if s.is_manual)
    added = client.add_to_segment(manual.uuid, id="seg-user")
    assert added.segment_uuid == manual.uuid and added.contact_uuid
    members = {c.uuid for c in client.get_contacts(segment_uuid=manual.uuid, page_length=1000)}
    assert added.contact_uuid in members
    assert client.remove_from_segment(manual.uuid, id="seg-user")["message"] == "ok"
    members = {c.uuid for c in client.get_contacts(segment_uuid=manual.uuid, page_length=1000)}
    assert added.contact_uuid not in members
    removal = requests_to(emulator, "/sync-segment")[-1]
    assert removal.method == "DELETE"


def test_store_and_tag_response(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    form = next(iter(emulator.store.forms.values()))
    stored = client.store_response(
        form["uuid"], {"comment": "Great 🎉"}, id="store-user", prevent_duplicates=False
    )
    assert stored.uuid in emulator.store.responses
    assert client.tag_response(stored.uuid or "", ["vip", "follow-up"]) == {"message": "ok"}
    tags = emulator.store.responses[stored.uuid or ""]["tags"]
    assert {tag["name"] if isinstance(tag, dict) else tag for tag in tags} >= {"vip", "follow-up"}


@pytest.mark.parametrize("report_type", ["nps", "csat", "ratings", "distribution", "count"])
def test_reporting_every_type(
    emulator: Emulator, make_client: MakeClient, report_type: str
) -> None:
    client = make_client(emulator)
    report = client.get_reporting(report_type, date_range_start="2000-01-01")  # type: ignore[arg-type]
    assert report.type == report_type
    assert report.date_range_start is not None and report.date_range_end is not None
    assert requests_to(emulator, "/reporting")[0].params["type"] == report_type
    if report_type == "nps":
        assert report.count and report.data and report.nps is not None
        promoters, detractors = report.data["promoters"], report.data["detractors"]
        assert report.nps == round(100 * (promoters - detractors) / report.count)
    if report_type == "count":
        assert report.views is not None and report.responses is not None


def test_raw_pages_fast_path(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    pages = list(client.iter_pages("responses", {"include": "all"}, page_length=100))
    assert all(isinstance(item, dict) for page in pages for item in page.items)
    assert sum(len(page.items) for page in pages) == len(emulator.store.responses)
    assert pages[-1].pagination["next_page_cursor"] is None
    resumed = list(
        client.iter_pages(
            "responses",
            {"include": "all"},
            page_length=100,
            page_cursor=pages[0].pagination["next_page_cursor"],
        )
    )
    assert [p.items for p in resumed] == [p.items for p in pages[1:]]


def test_shared_client_across_threads(emulator: Emulator, make_client: MakeClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(emulator)
    uuids = list(emulator.store.contacts)[:40]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda uuid: client.get_contact(uuid=uuid).uuid, uuids))
    assert got == uuids
    assert client.stats.requests == 40


def test_unknown_fields_in_a_page_do_not_break_decoding(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    emulator.faults.add("timestamps", style="mixed", path="/contacts", times=None)
    shifted = {c.uuid: c for c in client.get_contacts(page_length=1000)}
    emulator.faults.clear()
    plain = {c.uuid: c for c in client.get_contacts(page_length=1000)}
    assert shifted == plain  # naive, +02:00 and Z all parse to the same UTC instants


def test_model_errors_are_server_errors(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    emulator.faults.add("missing_field", field="uuid", path="/segments", times=None)
    with pytest.raises(ServerError, match="Segment that does not match"):
        list(client.get_segments())
