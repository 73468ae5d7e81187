"""The same hand-computed figures from the marts on PostgreSQL (the SQL is shared)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.digest import run_digest
from tests.digest.helpers import BERLIN, DAY, UTC_NPS, Warehouse, build_warehouse
from tests.warehouse import fresh_postgres_database, requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    with fresh_postgres_database() as database, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESTINATION__POSTGRES__CREDENTIALS", database.url)
        yield build_warehouse(tmp_path_factory.mktemp("digest-pg"), postgres_url=database.url)


def test_figures_match_on_postgres(postgres_warehouse: Warehouse, tmp_path: Path) -> None:
    berlin = run_digest(
        date=DAY, timezone="Europe/Berlin", to=("file",), output_dir=tmp_path,
        destination="postgres",
    ).digest  # fmt: skip
    assert berlin.nps.score == pytest.approx(BERLIN["nps"][0])
    assert berlin.nps.answers == BERLIN["nps"][4]
    assert berlin.previous_nps.score == pytest.approx(BERLIN["previous_nps"])
    assert berlin.csat.score == pytest.approx(BERLIN["csat"][0])
    assert berlin.csat.average == pytest.approx(BERLIN["csat"][3])
    assert {s.survey: (s.responses, s.previous_responses) for s in berlin.surveys} == (
        BERLIN["surveys"]
    )
    by_uuid = {uuid: name for name, uuid in postgres_warehouse.uuids.items()}
    assert [by_uuid[c.response_uuid] for c in berlin.comments] == BERLIN["comment_order"]
    trend = {point.day: point.answers for point in berlin.trend if point.answers}
    assert trend == {DAY.replace(day=9): 3, DAY: 4}
    utc = run_digest(
        date=DAY, timezone="UTC", to=("file",), output_dir=tmp_path, destination="postgres"
    ).digest
    assert utc.nps.score == pytest.approx(UTC_NPS[0])
    assert (tmp_path / "nps_trend.png").exists()
