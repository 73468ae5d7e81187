"""Fidelity: after one load, every table equals the emulator's ground truth.

Runs on DuckDB and, when configured, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.cli_run import CliRun
from tests.load.helpers import (
    DESTINATIONS,
    REPORTING_DAYS,
    TIMESTAMP_COLUMNS,
    Warehouse,
    api_instant,
    as_date,
    assert_load_ids_completed,
    assert_matches_ground_truth,
    assert_no_duplicate_keys,
    load,
    load_seed,
    make_warehouse,
    truth_contacts,
    truth_responses,
)


@dataclass(frozen=True)
class Loaded:
    emulator: Emulator
    warehouse: Warehouse
    run: CliRun
    requests: int


@pytest.fixture(scope="module", params=DESTINATIONS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    """One full load of the load seed, shared by the read-only checks of this module."""
    tmp_path = tmp_path_factory.mktemp(f"fidelity-{request.param}")
    with (
        Emulator(seed=load_seed()) as emulator,
        make_warehouse(request.param, tmp_path) as warehouse,
    ):
        run = load(emulator, warehouse, tmp_path / "pipelines")
        yield Loaded(emulator, warehouse, run, len(emulator.request_log.entries()))


def _is_ascii(text: str | None) -> bool:
    return text is None or text.isascii()


def test_primary_key_sets_match_ground_truth(loaded: Loaded) -> None:
    assert_matches_ground_truth(loaded.warehouse, loaded.emulator)


def test_no_duplicate_primary_key_in_any_table(loaded: Loaded) -> None:
    tables = loaded.warehouse.tables()
    assert {"response_answers", "contact_attributes", "contact_segments"} <= tables
    assert_no_duplicate_keys(loaded.warehouse)


def test_every_load_id_has_a_completed_load(loaded: Loaded) -> None:
    assert_load_ids_completed(loaded.warehouse)


def test_the_staging_dataset_keeps_no_rows_after_the_load(loaded: Loaded) -> None:
    """Merged rows leave staging (`truncate_staging_dataset`): the warehouse holds no second
    copy of the last load. (dlt's own `_dlt_version` there records the staging schema.)"""
    staging = f"{loaded.warehouse.dataset}_staging"
    tables = [
        row[0]
        for row in loaded.warehouse.query(
            f"select table_name from information_schema.tables where table_schema = '{staging}'"
        )
    ]
    assert {"responses", "response_answers", "contacts", "contact_attributes"} <= set(tables)
    left = {
        table: n
        for table in tables
        if not table.startswith("_dlt")
        and (n := loaded.warehouse.query(f'select count(*) from "{staging}"."{table}"')[0][0])
    }
    assert not left, f"rows left in {staging}: {left}"


def test_timestamp_columns_are_timezone_aware(loaded: Loaded) -> None:
    for table, names in TIMESTAMP_COLUMNS.items():
        types = loaded.warehouse.columns(table)
        for name in names:
            if name in types:  # an all-null column may not be created by dlt
                assert "time zone" in types[name] or types[name] == "timestamptz", (
                    f"{table}.{name} is {types[name]}, not timestamptz"
                )
    for name in ("first_seen_at", "last_seen_at"):
        assert name in loaded.warehouse.columns("contacts")
    for name in ("last_data_reception_at", "completed_at", "first_shown_at"):
        assert name in loaded.warehouse.columns("responses")


def test_contact_values_match_field_by_field(loaded: Loaded) -> None:
    truth = truth_contacts(loaded.emulator)
    rows = {row["uuid"]: row for row in loaded.warehouse.rows("contacts")}
    assert any(c["email"] is None for c in truth.values()), "seed has no contact without email"
    assert any(not _is_ascii(c["display_name"]) for c in truth.values()), "seed has no unicode name"
    for uuid, contact in truth.items():
        row = rows[uuid]
        account = contact["account"] or {}
        expected: dict[str, Any] = {
            "remote_id": contact["remote_id"],
            "email": contact["email"],
            "display_name": contact["display_name"],
            "account_uuid": account.get("uuid"),
            "account_remote_id": account.get("remote_id"),
            "account_display_name": account.get("display_name"),
            "account_domain": account.get("domain"),
            "attributes": contact["attributes"],
            "account_attributes": account.get("attributes"),
        }
        for name in (
            "first_seen_at",
            "last_seen_at",
            "last_form_submission_at",
            "last_tracking_event_at",
        ):
            expected[name] = api_instant(contact[name])
        actual = {name: row.get(name) for name in expected}
        assert actual == expected, f"contact {uuid}"


def test_response_values_match_field_by_field(loaded: Loaded) -> None:
    truth = truth_responses(loaded.emulator)
    rows = {row["uuid"]: row for row in loaded.warehouse.rows("responses")}
    assert any(r["contact"]["email"] is None for r in truth.values()), (
        "no response of a contact without email"
    )
    assert any(
        isinstance(v, str) and not v.isascii() for r in truth.values() for v in r["data"].values()
    ), "seed has no unicode answer"
    for uuid, response in truth.items():
        row = rows[uuid]
        contact = response["contact"]
        account = contact["account"] or {}
        expected: dict[str, Any] = {
            "show_counter": response["show_counter"],
            "form_uuid": response["form"]["uuid"],
            "form_name": response["form"]["name"],
            "contact_uuid": contact["uuid"],
            "contact_remote_id": contact["remote_id"],
            "contact_email": contact["email"],
            "contact_display_name": contact["display_name"],
            "account_uuid": account.get("uuid"),
            "account_remote_id": account.get("remote_id"),
            "data": response["data"],
            "tags": response["tags"],
        }
        for name in TIMESTAMP_COLUMNS["responses"]:
            expected[name] = api_instant(response[name])
        actual = {name: row.get(name) for name in expected}
        assert actual == expected, f"response {uuid}"


def test_answer_values_keep_types_and_list_positions(loaded: Loaded) -> None:
    truth = truth_responses(loaded.emulator)
    rows = {
        (r["response_uuid"], r["question_identifier"], r["position"]): r
        for r in loaded.warehouse.rows("response_answers")
    }
    lists = 0
    for uuid, response in truth.items():
        answered_at = api_instant(response["last_data_reception_at"])
        for question, answer in response["data"].items():
            values = answer if isinstance(answer, list) else [answer]
            lists += isinstance(answer, list) and len(answer) > 1
            for position, value in enumerate(values):
                row = rows[(uuid, question, position)]
                assert row["form_uuid"] == response["form"]["uuid"]
                assert row["contact_uuid"] == response["contact"]["uuid"]
                assert row["answered_at"] == answered_at
                if value is None:
                    assert (row["value_text"], row["value_number"], row["value_bool"]) == (
                        None,
                        None,
                        None,
                    )
                elif isinstance(value, bool):
                    assert row["value_bool"] is value, (uuid, question)
                elif isinstance(value, int | float):
                    assert row["value_number"] == float(value), (uuid, question)
                else:
                    assert row["value_text"] == value, (uuid, question, position)
    assert lists > 0, "seed has no multi-select answer with several options"


def test_contact_attribute_values_are_typed(loaded: Loaded) -> None:
    truth = truth_contacts(loaded.emulator)
    rows = {(r["contact_uuid"], r["name"]): r for r in loaded.warehouse.rows("contact_attributes")}
    kinds: set[str] = set()
    for uuid, contact in truth.items():
        for name, value in contact["attributes"].items():
            row = rows[(uuid, name)]
            if isinstance(value, bool):
                kinds.add("bool")
                assert row["value_bool"] is value, (uuid, name)
            elif isinstance(value, int | float):
                kinds.add("number")
                assert row["value_number"] == float(value), (uuid, name)
            elif isinstance(value, str):
                kinds.add("text")
                assert row["value_text"] == value, (uuid, name)
                if name.endswith("_at"):
                    kinds.add("timestamp")
                    assert row["value_timestamp"] == api_instant(value), (uuid, name)
    assert {"number", "text"} <= kinds, f"seed attributes cover only {kinds}"


def test_segments_forms_and_memberships_match(loaded: Loaded) -> None:
    store = loaded.emulator.store
    segments = {r["uuid"]: r for r in loaded.warehouse.rows("segments")}
    for uuid in list(store.segments):
        truth = store.render_segment(uuid)
        assert (segments[uuid]["name"], segments[uuid]["is_manual"]) == (
            truth["name"],
            truth["is_manual"],
        )
    forms = {r["uuid"]: r for r in loaded.warehouse.rows("forms")}
    for uuid in list(store.forms):
        truth = store.render_form(uuid)
        row = forms[uuid]
        assert row["name"] == truth["name"]
        assert row["channels"] == truth["channels"]
        assert row["config"] == truth["config"]
        assert row["folder"] == truth["folder"]
        assert (row["responses_count"], row["views_count"]) == (
            truth["responses_count"],
            truth["views_count"],
        )
        assert row["archived_at"] == api_instant(truth["archived_at"])
        assert row["published_at"] == api_instant(truth["published_at"])
    memberships = {
        (r["contact_uuid"], r["segment_uuid"]): r for r in loaded.warehouse.rows("contact_segments")
    }
    for uuid, contact in truth_contacts(loaded.emulator).items():
        for segment in contact["segments"]:
            row = memberships[(uuid, segment["uuid"])]
            assert row["segment_name"] == segment["name"]
            assert row["entered_at"] == api_instant(segment.get("created_at"))


def test_reporting_rows_match_the_emulator_reports(loaded: Loaded) -> None:
    """One row per configured type, form and day; metrics equal what /reporting answers."""
    warehouse, emulator = loaded.warehouse, loaded.emulator
    rows = warehouse.rows("reporting")
    today = datetime.now(UTC).date()
    days = {today - timedelta(days=offset) for offset in range(REPORTING_DAYS)}
    forms = set(emulator.store.forms)
    keys = {(r["report_type"], r["form_uuid"], as_date(r["day"])) for r in rows}
    assert keys == {(t, f, d) for t in ("nps", "csat", "count") for f in forms for d in days}
    assert any(r["responses"] for r in rows if r["report_type"] == "count"), "no responses counted"
    assert any(r["score"] is not None for r in rows if r["report_type"] == "nps"), "no nps score"
    with httpx.Client(headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}) as http:
        for row in rows:
            day = as_date(row["day"])
            body = http.get(
                f"{emulator.base_url}/reporting",
                params={
                    "type": row["report_type"],
                    "form_uuids[]": row["form_uuid"],
                    "date_range_start": day.isoformat(),
                    "date_range_end": (day + timedelta(days=1)).isoformat(),
                },
            ).json()
            key = (row["report_type"], row["form_uuid"], day)
            if row["report_type"] == "count":
                assert (row["views"], row["responses"]) == (body["views"], body["responses"]), key
            else:
                score = body.get(row["report_type"])
                assert row["score"] == (None if score is None else float(score)), key
                assert row["count"] == body["count"], key
                assert row["breakdown"] == body["data"], key
            if row["report_type"] == "nps":
                counts = body["data"]
                assert (row["promoters"], row["passives"], row["detractors"]) == (
                    counts["promoters"],
                    counts["passives"],
                    counts["detractors"],
                ), key


def test_account_usage_has_one_snapshot_per_load(loaded: Loaded) -> None:
    warehouse = loaded.warehouse
    assert warehouse.count("account_usage") == 1
    usage = warehouse.rows("account_usage")[0]
    assert usage["plan"] and usage["snapshot_at"].tzinfo is not None
    environments = warehouse.rows("account_usage_environments")
    assert environments and all(e["snapshot_at"] == usage["snapshot_at"] for e in environments)


def test_summary_reports_rows_and_requests_as_counted_in_the_warehouse(loaded: Loaded) -> None:
    summary: dict[str, int] = {}
    for line in loaded.run.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) >= 3 and cells[2].isdigit():
            summary[cells[1]] = int(cells[2])
    counts = loaded.warehouse.counts()
    assert summary == {table: counts[table] for table in summary}
    assert set(summary) >= {"contacts", "responses", "response_answers", "forms", "segments"}
    assert f"API requests: {loaded.requests}" in loaded.run.stdout
    assert "cursor responses.last_data_reception_at" in loaded.run.stdout
