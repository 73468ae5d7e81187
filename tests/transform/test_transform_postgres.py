"""`refiner load` then `refiner transform --destination postgres`: the same models and tests
run on PostgreSQL 15 and give the same answers as on DuckDB (the emulator's truth)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from tests.cli_run import CliRun, run_refiner
from tests.transform.helpers import (
    MODELS,
    SCHEMA,
    TRAIT_COLUMNS,
    as_trait_rows,
    assert_nps_daily,
    consistency_is_exact,
    dbt_paths,
    expected_nps_daily,
    expected_traits,
    refiner_env,
    run_results,
    scored_answers,
    transform_seed,
)
from tests.warehouse import PostgresDatabase, fresh_postgres_database, requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.slow]


@dataclass(frozen=True)
class Loaded:
    emulator: Emulator
    database: PostgresDatabase
    target: Path
    transform: CliRun


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """One include=partials load and transform into a throwaway PostgreSQL database."""
    directory = tmp_path_factory.mktemp("postgres")
    emulator = Emulator(transform_seed()).start()
    try:
        with fresh_postgres_database() as database:
            env = {"DESTINATION__POSTGRES__CREDENTIALS": database.url, **dbt_paths(directory)}
            with refiner_env(emulator, "partials", **env):
                load = run_refiner(
                    "load", "--destination", "postgres", "--pipelines-dir", str(directory / "dlt")
                )
                assert load.code == 0, load.output
                transform = run_refiner("transform", "--destination", "postgres", "--quiet")
            yield Loaded(emulator, database, directory / "target", transform)
    finally:
        emulator.stop()


def _query(database: PostgresDatabase, sql: str) -> list[tuple[Any, ...]]:
    import psycopg2

    connection = psycopg2.connect(database.url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        connection.close()


def test_transform_passes_every_test_on_postgres(loaded: Loaded) -> None:
    assert loaded.transform.code == 0, loaded.transform.output
    assert "dbt build on postgres:" in loaded.transform.output
    statuses = run_results(loaded.target)
    for model in MODELS:
        assert statuses[model] == "success", model
    assert statuses["assert_nps_daily_matches_reporting"] == "pass"
    assert consistency_is_exact(loaded.target)
    assert statuses["test_contact_traits_latest_nps_and_feedback_health"] == "pass"
    assert statuses["test_fct_answers_nps_category_boundaries"] == "pass"
    assert set(statuses.values()) <= {"success", "pass"}


def test_nps_daily_and_traits_equal_the_emulator_on_postgres(loaded: Loaded) -> None:
    answers = scored_answers(loaded.emulator, partials=True)
    nps_rows = _query(
        loaded.database,
        f"select form_uuid, response_day, promoters, passives, detractors, responses, nps "
        f"from {SCHEMA}.nps_daily",
    )
    assert_nps_daily(nps_rows, expected_nps_daily(answers))
    trait_rows = _query(
        loaded.database, f"select {', '.join(TRAIT_COLUMNS)} from {SCHEMA}.contact_traits"
    )
    expected = expected_traits(loaded.emulator, answers, partials=True, now=datetime.now(UTC))
    assert as_trait_rows(trait_rows) == expected


def test_trait_column_types_on_postgres(loaded: Loaded) -> None:
    types = dict(
        _query(
            loaded.database,
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{SCHEMA}' and table_name = 'contact_traits'",
        )
    )
    assert types == {
        "remote_id": "character varying",
        "email": "character varying",
        "nps_score": "integer",
        "nps_category": "text",
        "responses_last_90d": "integer",
        "last_response_at": "timestamp with time zone",
        "csat_average": "double precision",
        "feedback_health": "text",
    }
