"""LoadedRows: rows an earlier run loaded unchanged are dropped, with their child rows; any
change, a change back, and rows the next lookback will not read again are handled."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from sources.refiner.unchanged import LoadedRows

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LAG = timedelta(hours=2)


def _contacts(*rows: tuple[str, datetime, str]) -> pa.Table:
    return pa.table(
        {
            "uuid": [uuid for uuid, _, _ in rows],
            "last_seen_at": pa.array([at for _, at, _ in rows], type=pa.timestamp("us", tz="UTC")),
            "email": [email for _, _, email in rows],
        }
    )


def _attributes(*rows: tuple[str, str, str]) -> pa.Table:
    columns = ("contact_uuid", "name", "value_text")
    return pa.table(
        {name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(columns)}
    )


def _loaded_contacts(state: dict[str, Any], derived: frozenset[str] = frozenset()) -> LoadedRows:
    """Fingerprints of an incremental resource with one child table, as the source keeps them."""
    return LoadedRows(
        state,
        parent="contacts",
        key=("uuid",),
        cursor="last_seen_at",
        lag=LAG,
        children={"contact_attributes": "contact_uuid"},
        derived=derived,
    )


def _run(state: dict[str, Any], contacts: pa.Table, attributes: pa.Table) -> dict[str, set[Any]]:
    """One run of an incremental resource over one batch; returns the keys that went to dlt."""
    loaded = _loaded_contacts(state)
    kept = loaded.drop_loaded({"contacts": contacts, "contact_attributes": attributes})
    loaded.save()
    return {
        "contacts": set(kept["contacts"]["uuid"].to_pylist()),
        "contact_attributes": set(
            zip(
                kept["contact_attributes"]["contact_uuid"].to_pylist(),
                kept["contact_attributes"]["name"].to_pylist(),
                strict=True,
            )
        ),
    }


def test_a_second_read_of_unchanged_rows_drops_them_with_their_children() -> None:
    state: dict[str, Any] = {}
    contacts = _contacts(("a", NOW, "a@x"), ("b", NOW - timedelta(minutes=30), "b@x"))
    attributes = _attributes(("a", "plan", "pro"), ("a", "seats", "3"), ("b", "plan", "free"))

    first = _run(state, contacts, attributes)
    assert first["contacts"] == {"a", "b"}
    assert len(first["contact_attributes"]) == 3

    assert _run(state, contacts, attributes) == {"contacts": set(), "contact_attributes": set()}


def test_the_order_rows_arrive_in_does_not_matter() -> None:
    state: dict[str, Any] = {}
    contacts = _contacts(("a", NOW, "a@x"), ("b", NOW, "b@x"))
    attributes = _attributes(("a", "plan", "pro"), ("a", "seats", "3"), ("b", "plan", "free"))
    _run(state, contacts, attributes)

    reordered = _run(state, contacts.take([1, 0]), attributes.take([2, 1, 0]))
    assert reordered == {"contacts": set(), "contact_attributes": set()}


def test_fingerprints_saved_by_one_process_match_in_the_next() -> None:
    """Each run is a new process: the fingerprints must not depend on it (a per-process hash
    seed would reload every re-read row on every run)."""
    script = (
        "import json, sys\n"
        "from tests.source.test_unchanged import _attributes, _contacts, _run, NOW\n"
        "state = json.loads(sys.stdin.read())\n"
        "contacts = _contacts(('a', NOW, 'a@x'), ('b', NOW, 'b@x'))\n"
        "attributes = _attributes(('a', 'plan', 'pro'), ('b', 'plan', 'free'))\n"
        "kept = _run(state, contacts, attributes)\n"
        "print(json.dumps({'kept': sorted(kept['contacts']), 'state': state}))\n"
    )

    def run_in_new_process(state: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(state),
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[2],
        )
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    first = run_in_new_process({})
    assert first["kept"] == ["a", "b"]
    assert run_in_new_process(first["state"])["kept"] == []


def test_resources_fingerprinting_on_threads_at_once_do_not_meet() -> None:
    """dlt extracts contacts and responses on different threads, each with its own LoadedRows
    over one shared in-memory DuckDB; each must see only its own tables."""
    batches = [
        (
            _contacts(*((f"{n}-{i}", NOW, f"{i}@x") for i in range(200))),
            _attributes(*((f"{n}-{i}", "plan", str(n)) for i in range(200))),
        )
        for n in range(8)
    ]

    def second_read(batch: tuple[pa.Table, pa.Table]) -> dict[str, set[Any]]:
        state: dict[str, Any] = {}
        _run(state, *batch)
        return _run(state, *batch)

    with ThreadPoolExecutor(max_workers=8) as pool:
        kept = list(pool.map(second_read, batches * 4))
    assert kept == [{"contacts": set(), "contact_attributes": set()}] * len(kept)


def test_a_changed_child_row_reloads_the_parent_and_all_its_children() -> None:
    state: dict[str, Any] = {}
    contacts = _contacts(("a", NOW, "a@x"), ("b", NOW, "b@x"))
    _run(state, contacts, _attributes(("a", "plan", "pro"), ("a", "seats", "3"), ("b", "x", "1")))

    second = _run(
        state, contacts, _attributes(("a", "plan", "pro"), ("a", "seats", "4"), ("b", "x", "1"))
    )

    assert second["contacts"] == {"a"}
    assert second["contact_attributes"] == {("a", "plan"), ("a", "seats")}


def test_children_built_from_the_parent_row_are_dropped_with_it_but_not_fingerprinted() -> None:
    """The parent's own columns cover such children (a contact's attributes come from its
    `attributes` column): they follow the parent's fate and cost no fingerprint."""
    state: dict[str, Any] = {}
    kept: dict[str, pa.Table] = {}
    for email_of_b, plan in (("b@x", "pro"), ("b@y", "free")):
        loaded = _loaded_contacts(state, derived=frozenset({"contact_attributes"}))
        tables = {
            "contacts": _contacts(("a", NOW, "a@x"), ("b", NOW, email_of_b)),
            "contact_attributes": _attributes(("a", "plan", plan), ("b", "plan", plan)),
        }
        kept = loaded.drop_loaded(tables)
        loaded.save()

    assert kept["contacts"]["uuid"].to_pylist() == ["b"]
    assert kept["contact_attributes"]["contact_uuid"].to_pylist() == ["b"]


def test_a_row_that_changes_and_changes_back_is_loaded_each_time() -> None:
    state: dict[str, Any] = {}
    no_children = _attributes()
    versions = ["a@x", "a@y", "a@x"]
    loaded = [_run(state, _contacts(("a", NOW, email)), no_children) for email in versions]
    assert [run["contacts"] for run in loaded] == [{"a"}, {"a"}, {"a"}]


def test_a_record_read_twice_with_different_content_is_loaded_and_then_loaded_again() -> None:
    """Edited while the run read it: both versions go to dlt (the merge keeps one of them),
    and the next run loads the record again, as it cannot know which version was kept."""
    state: dict[str, Any] = {}
    no_children = _attributes()
    _run(state, _contacts(("a", NOW, "a@x")), no_children)

    loaded = _loaded_contacts(state)
    both = _contacts(("a", NOW, "a@x"), ("a", NOW, "a@y"))
    kept = loaded.drop_loaded({"contacts": both, "contact_attributes": no_children})
    assert kept["contacts"]["email"].to_pylist() == ["a@x", "a@y"]
    loaded.save()

    assert _run(state, _contacts(("a", NOW, "a@y")), no_children)["contacts"] == {"a"}
    assert _run(state, _contacts(("a", NOW, "a@y")), no_children)["contacts"] == set()


def test_rows_the_next_lookback_will_not_read_are_forgotten() -> None:
    state: dict[str, Any] = {}
    old = ("old", NOW - LAG - timedelta(minutes=1), "old@x")
    recent = ("recent", NOW - LAG + timedelta(minutes=1), "recent@x")
    _run(state, _contacts(old, recent, ("newest", NOW, "n@x")), _attributes())

    again = _run(state, _contacts(old, recent), _attributes())

    assert again["contacts"] == {"old"}


def test_rows_without_a_cursor_are_always_loaded() -> None:
    state: dict[str, Any] = {}
    table = pa.table(
        {
            "uuid": ["a", "b"],
            "last_seen_at": pa.array([NOW, None], type=pa.timestamp("us", tz="UTC")),
            "email": ["a@x", "b@x"],
        }
    )
    _run(state, table, _attributes())
    assert _run(state, table, _attributes())["contacts"] == {"b"}


def test_a_resource_without_a_cursor_remembers_exactly_what_it_read() -> None:
    state: dict[str, Any] = {}
    forms = pa.table({"uuid": ["f1", "f2"], "name": ["NPS", "CSAT"]})

    def run(table: pa.Table) -> list[str]:
        loaded = LoadedRows(state, parent="forms", key=("uuid",))
        kept = loaded.drop_loaded({"forms": table})["forms"]
        loaded.save()
        return sorted(kept["uuid"].to_pylist())

    assert run(forms) == ["f1", "f2"]
    saved = dict(state["loaded_rows"])
    assert run(forms) == []
    assert state["loaded_rows"] == saved, "the same rows must give the same state"
    assert run(pa.table({"uuid": ["f1", "f2"], "name": ["NPS", "CSAT v2"]})) == ["f2"]
    # f1 was not read by the last run, so it is not remembered any more.
    assert run(pa.table({"uuid": ["f2"], "name": ["CSAT v2"]})) == []
    assert run(forms) == ["f1", "f2"]


def test_plain_records_with_a_composite_key() -> None:
    state: dict[str, Any] = {}
    day = datetime(2026, 3, 1).date()
    rows = [
        {"report_type": "nps", "form_uuid": "f1", "day": day, "score": 40.0},
        {"report_type": "csat", "form_uuid": "f1", "day": day, "score": 4.5},
    ]

    def run(records: list[dict[str, Any]]) -> list[str]:
        loaded = LoadedRows(state, parent="reporting", key=("report_type", "form_uuid", "day"))
        kept = loaded.drop_loaded_rows(records)
        loaded.save()
        return [row["report_type"] for row in kept]

    assert run(rows) == ["nps", "csat"]
    assert run(rows) == []
    assert run([rows[0], {**rows[1], "score": 4.6}]) == ["csat"]
