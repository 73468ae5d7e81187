"""Quick end-to-end checks of `run_load` paths the load suite does not exercise: stale child
rows, include=all, backfill windows (resume, hand-over to the cursor), --full-refresh, and
--reconcile on PostgreSQL.

Each test loads a small seeded emulator over real HTTP into a real DuckDB file (or a throwaway
PostgreSQL database) and counts in the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from pipelines.load.run import BACKFILL_WINDOW_DAYS, LoadSummary, run_load
from sources.refiner.errors import ValidationError
from sources.refiner.timestamps import format_query_timestamp
from tests.warehouse import fresh_postgres_database, requires_postgres

DATASET = "refiner_raw"
SEED_END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
"""Where the seeded data ends: the emulator's default, the start of the current UTC day."""


@dataclass
class Target:
    """A warehouse and the state folder of the pipeline that loads it."""

    destination: str
    url: str
    pipelines: Path

    def load(self, emulator: Emulator, **options: Any) -> LoadSummary:
        with pytest.MonkeyPatch.context() as patch:
            if self.destination == "duckdb":
                options["duckdb_path"] = self.url
            else:
                patch.setenv("DESTINATION__POSTGRES__CREDENTIALS", self.url)
            return run_load(
                destination=self.destination,
                dataset=DATASET,
                pipelines_dir=self.pipelines,
                api_key=DEFAULT_API_KEY,
                base_url=emulator.base_url,
                **options,
            )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        sql = sql.replace("{ds}", DATASET)
        if self.destination == "duckdb":
            import duckdb

            with duckdb.connect(self.url, read_only=True) as connection:
                return connection.execute(sql).fetchall()
        import psycopg2

        with psycopg2.connect(self.url) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        connection.close()
        return rows

    def keys(self, table: str, column: str, where: str = "true") -> set[str]:
        return {row[0] for row in self.query(f"select {column} from {{ds}}.{table} where {where}")}


@contextmanager
def make_target(destination: str, tmp_path: Path) -> Iterator[Target]:
    if destination == "duckdb":
        yield Target("duckdb", str(tmp_path / "w.duckdb"), tmp_path / "pipelines")
        return
    with fresh_postgres_database() as database:
        yield Target("postgres", database.url, tmp_path / "pipelines")


DESTINATIONS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=[requires_postgres, pytest.mark.postgres]),
]


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__REFINER__PAGE_LENGTH", "40")
    monkeypatch.setenv("SOURCES__REFINER__REPORTING_DAYS", "1")
    monkeypatch.setenv("SOURCES__REFINER__START_DATE", "2024-01-01")
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    seed = SeedConfig(
        seed=5, contacts=60, accounts=10, forms=3, segments=3, responses=240, days=90, end=SEED_END
    )
    with Emulator(seed=seed) as running:
        yield running


def _completed(emulator: Emulator, where: Any = lambda response: True) -> set[str]:
    rendered = (emulator.store.render_response(uuid) for uuid in list(emulator.store.responses))
    return {r["uuid"] for r in rendered if r["completed_at"] is not None and where(r)}


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_children_a_parent_no_longer_has_are_deleted(
    destination: str, emulator: Emulator, tmp_path: Path
) -> None:
    store = emulator.store
    # A contact without responses: Refiner turns answers into traits, which would come back.
    contact = store.upsert_contact(remote_id="no-responses", attributes={"plan": "pro", "seats": 3})
    store.add_to_segment(sorted(store.segments)[0], contact)
    with make_target(destination, tmp_path) as target:
        target.load(emulator, resources=["contacts", "responses"])
        response = min(_completed(emulator, lambda r: r["contact"]["uuid"] != contact))
        # Refiner copies answers into the contact's traits: change the response first.
        store.update_response(
            response, data={}, merge_data=False, last_data_reception_at=emulator.clock.now()
        )
        rendered = store.contacts[contact]
        store.upsert_contact(uuid=contact, attributes=dict.fromkeys(rendered["attributes"]))
        for segment in rendered["segments"]:
            store.remove_from_segment(segment["uuid"], contact)
        assert not store.contacts[contact]["attributes"] and not store.contacts[contact]["segments"]
        others_before = target.query(
            f"select count(*) from {{ds}}.contact_attributes where contact_uuid <> '{contact}'"
        )

        summary = target.load(emulator, resources=["contacts", "responses"])

        where = f"contact_uuid = '{contact}'"
        assert target.keys("contact_attributes", "name", where) == set()
        assert target.keys("contact_segments", "segment_uuid", where) == set()
        assert (
            target.keys("response_answers", "question_identifier", f"response_uuid = '{response}'")
            == set()
        )
        assert target.keys("contacts", "uuid", f"uuid = '{contact}'") == {contact}
        assert summary.deleted["contact_attributes"] == len(rendered["attributes"])
        assert summary.deleted["contact_segments"] == len(rendered["segments"])
        assert summary.deleted["response_answers"] > 0
        others_after = target.query(
            f"select count(*) from {{ds}}.contact_attributes where contact_uuid <> '{contact}'"
        )
        assert others_after == others_before


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_a_reloaded_parent_loses_children_inside_the_merge(
    destination: str, emulator: Emulator, tmp_path: Path
) -> None:
    """A contact that drops one of two traits and a response that drops answers: the child
    tables' merge deletes the dropped rows in the load itself (the clean-up after the load,
    which counts what it deletes, finds nothing), and keeps the rows that remain."""
    store = emulator.store
    contact = store.upsert_contact(remote_id="two-traits", attributes={"plan": "pro", "seats": 3})
    with make_target(destination, tmp_path) as target:
        target.load(emulator, resources=["contacts", "responses"])
        response = min(_completed(emulator, lambda r: len(r["data"] or {}) >= 2))
        answers = store.render_response(response)["data"]
        kept = min(answers)
        assert target.keys(
            "response_answers", "question_identifier", f"response_uuid = '{response}'"
        ) == set(answers)
        assert target.keys("contact_attributes", "name", f"contact_uuid = '{contact}'") == {
            "plan",
            "seats",
        }
        store.update_response(
            response,
            data={kept: answers[kept]},
            merge_data=False,
            last_data_reception_at=emulator.clock.now(),
        )
        store.upsert_contact(uuid=contact, attributes={"plan": None})

        summary = target.load(emulator, resources=["contacts", "responses"])

        assert target.keys("contact_attributes", "name", f"contact_uuid = '{contact}'") == {"seats"}
        assert target.keys(
            "response_answers", "question_identifier", f"response_uuid = '{response}'"
        ) == {kept}
        assert summary.deleted == {}


PARENT_KEYS = {
    "contact_attributes": "contact_uuid",
    "contact_segments": "contact_uuid",
    "response_answers": "response_uuid",
}


def _merge_keys(target: Target) -> dict[str, set[str]]:
    """Columns marked `merge_key` in each child table of the pipeline's stored schema."""
    (path,) = target.pipelines.glob("*/schemas/refiner.schema.json")
    tables = json.loads(path.read_text())["tables"]
    return {
        table: {
            name for name, column in tables[table]["columns"].items() if column.get("merge_key")
        }
        for table in PARENT_KEYS
    }


def test_merge_keys_of_earlier_versions_are_cleared(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse first loaded with `merge_key` on the child tables' parent key, as versions
    before the destination scope declared it: the next load that writes child rows clears the
    hint, so dlt merges on the scope alone instead of warning on every run that it ignores the
    merge key."""
    from sources.refiner import schema

    earlier = {
        resource: {
            table: {
                **hints,
                "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
                "merge_key": PARENT_KEYS[table],
                "columns": {n: c for n, c in hints["columns"].items() if n != PARENT_KEYS[table]},
            }
            if table in PARENT_KEYS
            else hints
            for table, hints in tables.items()
        }
        for resource, tables in schema.CHILD_HINTS.items()
    }
    with make_target("duckdb", tmp_path) as target:
        with monkeypatch.context() as patch:
            patch.setattr(schema, "CHILD_HINTS", earlier)
            target.load(emulator, resources=["contacts", "responses"])
        assert _merge_keys(target) == {table: {key} for table, key in PARENT_KEYS.items()}

        # Rows loaded unchanged are skipped, so give every child table a changed parent.
        store = emulator.store
        now = emulator.clock.now()
        contact = sorted(store.contacts)[0]
        store.add_to_segment(sorted(store.segment_records)[0], contact)
        store.upsert_contact(uuid=contact, attributes={"plan": "changed"}, last_seen_at=now)
        response = sorted(_completed(emulator))[0]
        store.update_response(response, data={"changed": "yes"}, last_data_reception_at=now)
        target.load(emulator, resources=["contacts", "responses"])

        assert _merge_keys(target) == {table: set() for table in PARENT_KEYS}


CHILD_COLUMNS = {
    "response_answers": {
        "response_uuid",
        "form_uuid",
        "contact_uuid",
        "question_identifier",
        "position",
        "value_text",
        "value_number",
        "value_bool",
        "answered_at",
        "_dlt_load_id",
    },
    "contact_attributes": {
        "contact_uuid",
        "name",
        "value_text",
        "value_number",
        "value_bool",
        "value_timestamp",
        "_dlt_load_id",
    },
    "contact_segments": {
        "contact_uuid",
        "segment_uuid",
        "segment_name",
        "entered_at",
        "_dlt_load_id",
    },
}


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_child_tables_have_only_their_own_columns(
    destination: str, emulator: Emulator, tmp_path: Path
) -> None:
    """No column of the parent (`data`, `attributes`, the carried cursor) leaks into a child."""
    with make_target(destination, tmp_path) as target:
        target.load(emulator, resources=["contacts", "responses"])
        for table, expected in CHILD_COLUMNS.items():
            rows = target.query(
                "select column_name from information_schema.columns "
                f"where table_schema = '{DATASET}' and table_name = '{table}'"
            )
            assert {row[0] for row in rows} == expected, table


def test_include_all_follows_last_shown_at(emulator: Emulator, tmp_path: Path) -> None:
    with make_target("duckdb", tmp_path) as target, pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCES__REFINER__INCLUDE", "all")
        first = target.load(emulator, resources=["responses"])
        assert target.keys("responses", "uuid") == set(emulator.store.responses)
        assert "responses.last_shown_at" in first.cursors
        newest = target.query("select max(last_shown_at) from {ds}.responses")[0][0]

        emulator.request_log.clear()
        target.load(emulator, resources=["responses"])

        starts = [
            datetime.fromisoformat(str(e.params["date_range_start"]).replace("Z", "+00:00"))
            for e in emulator.request_log
            if e.path == "/responses" and not e.params.get("page_cursor")
        ]
        assert starts and all(start >= newest - timedelta(hours=2, minutes=1) for start in starts)


def test_backfill_resumes_at_the_failed_window(emulator: Emulator, tmp_path: Path) -> None:
    since = SEED_END - timedelta(days=85)
    until = SEED_END - timedelta(days=5)
    second_end = since + timedelta(days=2 * BACKFILL_WINDOW_DAYS)
    with make_target("duckdb", tmp_path) as target:
        rule = emulator.faults.add(
            "status",
            status=400,
            times=None,
            path="/responses",
            match={"date_range_end": format_query_timestamp(second_end)},
        )
        with pytest.raises(ValidationError):
            target.load(emulator, resources=["responses"], since=since, until=until)
        assert rule.hits >= 1
        first_window = _completed(
            emulator,
            lambda r: since <= _instant(r) < since + timedelta(days=BACKFILL_WINDOW_DAYS),
        )
        assert target.keys("responses", "uuid") == first_window
        emulator.faults.remove(rule.id)
        emulator.request_log.clear()

        summary = target.load(emulator, resources=["responses"], since=since, until=until)

        assert summary.backfill_windows == 2
        starts = [
            str(e.params["date_range_start"])
            for e in emulator.request_log
            if e.path == "/responses" and not e.params.get("page_cursor")
        ]
        assert min(starts) >= format_query_timestamp(since + timedelta(days=BACKFILL_WINDOW_DAYS))
        in_range = _completed(emulator, lambda r: since <= _instant(r) < until)
        assert target.keys("responses", "uuid") == in_range
        assert not any(name.startswith("responses.") for name in summary.cursors)


def test_backfill_to_now_hands_over_to_the_cursor(emulator: Emulator, tmp_path: Path) -> None:
    with make_target("duckdb", tmp_path) as target:
        summary = target.load(
            emulator, resources=["responses"], since=SEED_END - timedelta(days=40)
        )
        assert summary.backfill_windows == 2
        assert "responses.last_data_reception_at" in summary.cursors
        emulator.request_log.clear()
        target.load(emulator, resources=["responses"])
        assert len([e for e in emulator.request_log if e.path == "/responses"]) <= 2


def test_full_refresh_replaces_tables_and_state(emulator: Emulator, tmp_path: Path) -> None:
    import duckdb

    with make_target("duckdb", tmp_path) as target:
        target.load(emulator, resources=["forms", "segments"])
        with duckdb.connect(target.url) as connection:
            connection.execute(
                f"insert into {DATASET}.segments (uuid, name, _dlt_load_id)"
                " values ('x', 'stale', '1')"
            )

        target.load(emulator, resources=["forms", "segments"], full_refresh=True)

        assert target.keys("segments", "uuid") == set(emulator.store.segments)
        assert target.keys("forms", "uuid") == set(emulator.store.forms)


@requires_postgres
@pytest.mark.postgres
def test_reconcile_on_postgres(emulator: Emulator, tmp_path: Path) -> None:
    with make_target("postgres", tmp_path) as target:
        target.load(emulator, resources=["contacts", "responses"])
        victim = sorted(emulator.store.contacts)[0]
        emulator.store.delete_contact(victim)

        summary = target.load(emulator, resources=["contacts", "responses"], reconcile=True)

        assert target.keys("contacts", "uuid") == set(emulator.store.contacts)
        assert target.keys("responses", "uuid") == _completed(emulator)
        assert summary.deleted["contacts"] == 1
        left = target.query(
            f"select count(*) from {{ds}}.response_answers where contact_uuid = '{victim}'"
        )
        assert left == [(0,)]


def _instant(response: dict[str, Any]) -> datetime:
    parsed = datetime.fromisoformat(response["last_data_reception_at"].replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
