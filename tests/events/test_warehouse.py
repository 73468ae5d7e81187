"""One truth in the marts: a response delivered by webhook and loaded by `refiner load` is
one row in fct_responses and one set of answers in fct_answers, the newest version kept;
on DuckDB and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from pipelines.cli import main
from pipelines.events.receiver import ReceiverSettings
from pipelines.events.service import ServiceOptions
from pipelines.events.watch import webhook_body
from tests.events.helpers import running_receiver
from tests.warehouse import fresh_postgres_database, requires_postgres

SECRET = "sentinel-secret-5b1f"
SEED = SeedConfig(seed=5, contacts=40, accounts=8, forms=4, segments=3, responses=300, days=20)
Query = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=requires_postgres)])
def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, list[str], Query]]:
    """(destination, CLI arguments that select it, a query function)."""
    if request.param == "duckdb":
        database = tmp_path / "w.duckdb"

        def query_duckdb(sql: str) -> list[tuple[Any, ...]]:
            import duckdb

            with duckdb.connect(str(database), read_only=True) as connection:
                return connection.execute(sql).fetchall()

        yield "duckdb", ["--duckdb-path", str(database)], query_duckdb
        return
    with fresh_postgres_database() as postgres:
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.url)

        def query_postgres(sql: str) -> list[tuple[Any, ...]]:
            import psycopg2

            connection = psycopg2.connect(postgres.url)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
                    return cursor.fetchall()
            finally:
                connection.close()

        yield "postgres", ["--destination", "postgres"], query_postgres


def deliver(options: ServiceOptions, bodies: list[bytes]) -> None:
    import httpx

    with running_receiver(options, ReceiverSettings(SECRET)) as (url, _):
        for body in bodies:
            sent = httpx.post(f"{url}/webhooks/refiner", params={"token": SECRET}, content=body)
            assert sent.status_code == 200


def test_webhook_then_batch_is_one_row_with_the_newest_version(
    warehouse: tuple[str, list[str], Query], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination, selector, query = warehouse
    with Emulator(SEED).start() as emulator:
        monkeypatch.setenv("SOURCES__REFINER__API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("SOURCES__REFINER__BASE_URL", emulator.base_url)
        monkeypatch.setenv("SOURCES__REFINER__START_DATE", "2024-01-01")
        dump = emulator.store.dump()
        forms = {f["uuid"]: f for f in dump["forms"]}
        completed = [r for r in dump["responses"] if r["completed_at"]]

        # A newer version of a response without an NPS question leaves nps_daily as Refiner
        # reports it, so dbt's reporting check still passes.
        def has_nps(response: dict[str, Any]) -> bool:
            elements = forms[response["form"]["uuid"]]["config"]["form_elements"]
            return any(element["type"] == "nps" for element in elements)

        plain = next(
            r
            for r in completed
            if not has_nps(r) and any(isinstance(value, str) for value in r["data"].values())
        )
        chosen = list({r["uuid"]: r for r in [*completed[:10], plain]}.values())
        duckdb_path = selector[1] if destination == "duckdb" else None
        options = ServiceOptions(
            tmp_path / "ev" / "spool.sqlite", destination, duckdb_path=duckdb_path
        )
        deliver(options, [webhook_body(r, dump["project_uuid"]) for r in chosen])
        pipelines = ["--pipelines-dir", str(tmp_path / "dlt")]
        assert main(["load", *selector, *pipelines]) == 0
        assert main(["transform", *selector, "--quiet"]) == 0
        uuids = ", ".join(f"'{r['uuid']}'" for r in chosen)
        rows = query(
            "select response_uuid, count(*) from refiner_analytics.fct_responses"
            f" where response_uuid in ({uuids}) group by response_uuid"
        )
        assert sorted(rows) == sorted((r["uuid"], 1) for r in chosen)
        answers = query(
            "select response_uuid, count(*) from refiner_analytics.fct_answers"
            f" where response_uuid in ({uuids}) group by response_uuid"
        )
        batch = query(
            "select response_uuid, count(*) from refiner_raw.response_answers"
            f" where response_uuid in ({uuids}) group by response_uuid"
        )
        assert sorted(answers) == sorted(batch)
        assert len(batch) == len(chosen)
        # Every contact's kept version is the batch one (the webhooks are not newer), so its
        # attributes are the batch rows, none lost to the version join.
        staged = query("select count(*) from refiner_analytics.stg_refiner__contact_attributes")
        assert staged == query("select count(*) from refiner_raw.contact_attributes")

        newer = json.loads(json.dumps(plain))
        newer["last_data_reception_at"] = newer["completed_at"] = "2099-01-01 00:00:00"
        question = next(k for k, v in newer["data"].items() if isinstance(v, str))
        newer["data"][question] = ["webhook one", "webhook two", "webhook three"]
        newer_body = json.loads(webhook_body(newer, dump["project_uuid"]))
        newer_body.update(
            last_seen_at="2099-01-01T00:00:00.000000Z",
            display_name="Via Webhook",
            attributes={"plan": "via-webhook", "seats": 7},
        )
        deliver(options, [json.dumps(newer_body).encode()])
        assert main(["transform", *selector, "--quiet"]) == 0
    kept = query(
        "select version_origin, count(*) from refiner_analytics.stg_refiner__responses"
        f" where response_uuid = '{plain['uuid']}' group by version_origin"
    )
    assert kept == [("webhook", 1)]
    values = query(
        "select value_text from refiner_analytics.fct_answers"
        f" where response_uuid = '{plain['uuid']}' and question_identifier = '{question}'"
        " order by answer_position"
    )
    assert values == [("webhook one",), ("webhook two",), ("webhook three",)]
    total = query(
        "select count(*) from refiner_analytics.fct_answers"
        f" where response_uuid = '{plain['uuid']}'"
    )
    assert total[0][0] == len(plain["data"]) + 2
    contact = query(
        "select display_name, count(*) from refiner_analytics.dim_contacts"
        f" where contact_uuid = '{plain['contact']['uuid']}' group by display_name"
    )
    assert contact == [("Via Webhook", 1)]
    attributes = query(
        "select attribute_name, value_text, value_number"
        " from refiner_analytics.stg_refiner__contact_attributes"
        f" where contact_uuid = '{plain['contact']['uuid']}' order by attribute_name"
    )
    assert attributes == [("plan", "via-webhook", None), ("seats", "7", 7.0)]
