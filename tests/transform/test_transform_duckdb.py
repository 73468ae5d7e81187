"""`refiner load` then `refiner transform` into DuckDB: every model builds, every dbt test and
unit test passes (the NPS consistency test included), and the marts equal the emulator's truth.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from emulator import Emulator
from pipelines.transform import TransformError, run_transform
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

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Loaded:
    """One emulator, loaded and transformed once for the whole module."""

    emulator: Emulator
    database: Path
    target: Path
    transform: CliRun
    include: str


def _load_and_transform(directory: Path, include: str) -> Iterator[Loaded]:
    emulator = Emulator(transform_seed()).start()
    database = directory / "refiner.duckdb"
    try:
        with refiner_env(emulator, include, **dbt_paths(directory)):
            load = run_refiner(
                "load", "--duckdb-path", str(database), "--pipelines-dir", str(directory / "dlt")
            )
            assert load.code == 0, load.output
            transform = run_refiner("transform", "--duckdb-path", str(database), "--quiet")
        yield Loaded(emulator, database, directory / "target", transform, include)
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def with_partials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """A load with include=partials: the warehouse holds everything Refiner's reports count."""
    yield from _load_and_transform(tmp_path_factory.mktemp("partials"), "partials")


@pytest.fixture(scope="module")
def completed_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """A load with the default include=completed."""
    yield from _load_and_transform(tmp_path_factory.mktemp("completed"), "completed")


def _query(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def test_transform_builds_every_model_and_passes_every_test(with_partials: Loaded) -> None:
    assert with_partials.transform.code == 0, with_partials.transform.output
    assert "dbt build on duckdb:" in with_partials.transform.output
    assert "0 skipped" in with_partials.transform.output
    assert f"models in {SCHEMA}" in with_partials.transform.output
    statuses = run_results(with_partials.target)
    for model in MODELS:
        assert statuses[model] == "success", model
    assert statuses["assert_nps_daily_matches_reporting"] == "pass"
    assert consistency_is_exact(with_partials.target)
    assert statuses["test_fct_answers_nps_category_boundaries"] == "pass"
    assert statuses["test_contact_traits_latest_nps_and_feedback_health"] == "pass"
    assert set(statuses.values()) <= {"success", "pass"}
    relations = _query(
        with_partials.database,
        f"select table_name from information_schema.tables where table_schema = '{SCHEMA}'",
    )
    assert {name for (name,) in relations} == set(MODELS)


def test_nps_daily_equals_the_emulator_and_its_reports(with_partials: Loaded) -> None:
    rows = _query(
        with_partials.database,
        f"select form_uuid, response_day, promoters, passives, detractors, responses, nps "
        f"from {SCHEMA}.nps_daily",
    )
    answers = scored_answers(with_partials.emulator, partials=True)
    assert_nps_daily(rows, expected_nps_daily(answers))
    compared = _query(
        with_partials.database,
        f"select count(*), count(*) filter (where abs(n.nps - r.score) <= 0.5) "
        f"from {SCHEMA}.stg_refiner__reporting as r "
        f"join {SCHEMA}.nps_daily as n "
        f"on r.form_uuid = n.form_uuid and r.report_day = n.response_day "
        f"where r.report_type = 'nps'",
    )
    assert compared[0][0] > 10
    assert compared[0][0] == compared[0][1]


def test_contact_traits_equal_the_emulator(with_partials: Loaded) -> None:
    rows = _query(
        with_partials.database, f"select {', '.join(TRAIT_COLUMNS)} from {SCHEMA}.contact_traits"
    )
    actual = as_trait_rows(rows)
    answers = scored_answers(with_partials.emulator, partials=True)
    expected = expected_traits(
        with_partials.emulator, answers, partials=True, now=datetime.now(UTC)
    )
    assert actual == expected
    labels = {row["feedback_health"] for row in actual.values()}
    assert {"healthy", "at_risk", "neutral"} <= labels


def test_trait_column_types(with_partials: Loaded) -> None:
    types = dict(
        _query(
            with_partials.database,
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{SCHEMA}' and table_name = 'contact_traits'",
        )
    )
    assert types == {
        "remote_id": "VARCHAR",
        "email": "VARCHAR",
        "nps_score": "INTEGER",
        "nps_category": "VARCHAR",
        "responses_last_90d": "INTEGER",
        "last_response_at": "TIMESTAMP WITH TIME ZONE",
        "csat_average": "DOUBLE",
        "feedback_health": "VARCHAR",
    }


def test_completed_only_load_builds_and_counts_only_completed(completed_only: Loaded) -> None:
    assert completed_only.transform.code == 0, completed_only.transform.output
    statuses = run_results(completed_only.target)
    assert statuses["assert_nps_daily_matches_reporting"] == "pass"
    assert not consistency_is_exact(completed_only.target)
    rows = _query(
        completed_only.database,
        f"select form_uuid, response_day, promoters, passives, detractors, responses, nps "
        f"from {SCHEMA}.nps_daily",
    )
    answers = scored_answers(completed_only.emulator, partials=False)
    assert_nps_daily(rows, expected_nps_daily(answers))


def test_consistency_test_fails_when_the_report_disagrees(
    with_partials: Loaded, tmp_path: Path
) -> None:
    database = tmp_path / "tampered.duckdb"
    shutil.copy(with_partials.database, database)
    with duckdb.connect(str(database)) as connection:
        changed = connection.execute(
            "update refiner_raw.reporting set score = score + 2 where (form_uuid, day) in "
            "(select form_uuid, day from refiner_raw.reporting "
            " where report_type = 'nps' and count > 0 order by form_uuid, day limit 1) "
            "and report_type = 'nps' returning form_uuid"
        ).fetchall()
    assert len(changed) == 1
    with pytest.raises(TransformError, match="assert_nps_daily_matches_reporting") as failure:
        run_transform(
            duckdb_path=database, responses_include="partials", target_path=tmp_path / "target"
        )
    assert "1 failed" in str(failure.value)
    assert run_results(tmp_path / "target")["assert_nps_daily_matches_reporting"] == "fail"
