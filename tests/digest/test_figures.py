"""The digest's figures against values worked out by hand (tests/digest/helpers.py)."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.digest import Digest, run_digest
from tests.digest.helpers import BERLIN, DAY, EMPTY_DAY, UTC_NPS, Warehouse


def _digest(warehouse: Warehouse, **options: object):
    return run_digest(to=("file",), duckdb_path=warehouse.path, **options)  # type: ignore[arg-type]


def _nps(digest: Digest) -> tuple[float | None, int, int, int, int]:
    nps = digest.nps
    return (nps.score, nps.promoters, nps.passives, nps.detractors, nps.answers)


def test_berlin_day_takes_the_2330_utc_response_and_leaves_the_next(
    warehouse: Warehouse, tmp_path
) -> None:
    result = _digest(warehouse, date=DAY, timezone="Europe/Berlin", output_dir=tmp_path)
    digest = result.digest
    score = BERLIN["nps"][0]
    assert _nps(digest) == pytest.approx(BERLIN["nps"])
    assert digest.previous_nps.score == pytest.approx(BERLIN["previous_nps"])
    assert digest.nps_change == pytest.approx(score - BERLIN["previous_nps"])
    csat, satisfied, csat_answers, average = BERLIN["csat"]
    assert (digest.csat.satisfied, digest.csat.answers) == (satisfied, csat_answers)
    assert digest.csat.score == pytest.approx(csat)
    assert digest.csat.average == pytest.approx(average)
    assert digest.csat_change == pytest.approx(csat - BERLIN["previous_csat"])
    assert {s.survey: (s.responses, s.previous_responses) for s in digest.surveys} == (
        BERLIN["surveys"]
    )
    assert (digest.responses, digest.previous_responses) == (6, 4)
    assert digest.responses_change_percent == pytest.approx(50.0)


def test_comments_detractors_first_with_survey_and_score(warehouse: Warehouse, tmp_path) -> None:
    digest = _digest(warehouse, date=DAY, timezone="Europe/Berlin", output_dir=tmp_path).digest
    by_uuid = {uuid: name for name, uuid in warehouse.uuids.items()}
    assert [by_uuid[c.response_uuid] for c in digest.comments] == BERLIN["comment_order"]
    first = digest.comments[0]
    assert (first.nps_score, first.category, first.survey) == (3, "detractor", "NPS — Product")
    assert digest.comments[1].csat_score == 2


def test_utc_day_differs_at_the_boundary(warehouse: Warehouse, tmp_path) -> None:
    digest = _digest(warehouse, date=DAY, timezone="UTC", output_dir=tmp_path).digest
    assert _nps(digest) == pytest.approx(UTC_NPS)


def test_trend_has_thirty_local_days_ending_with_the_period(warehouse: Warehouse, tmp_path) -> None:
    digest = _digest(warehouse, date=DAY, timezone="Europe/Berlin", output_dir=tmp_path).digest
    assert len(digest.trend) == 30
    assert digest.trend[-1].day == DAY
    assert digest.trend[0].day == date(2026, 2, 9)
    scores = {point.day: (point.answers, point.nps) for point in digest.trend if point.answers}
    assert scores.keys() == {date(2026, 3, 9), DAY}
    assert scores[DAY] == (4, pytest.approx(25.0))
    assert scores[date(2026, 3, 9)] == (3, pytest.approx(100 / 3))


def test_week_compares_with_the_week_before(warehouse: Warehouse, tmp_path) -> None:
    digest = _digest(
        warehouse, date=DAY, timezone="Europe/Berlin", period="week", output_dir=tmp_path
    ).digest
    assert (digest.period.first_day, digest.period.last_day) == (
        date(2026, 3, 9),
        date(2026, 3, 15),
    )
    # Berlin 9 to 15 March: every response but p0 (Berlin 9 March 00:30 is in it too).
    assert digest.responses == 11
    assert digest.previous_responses == 0
    assert digest.responses_change_percent is None


def test_empty_day_says_so_in_one_line(warehouse: Warehouse, tmp_path) -> None:
    result = _digest(warehouse, date=EMPTY_DAY, timezone="Europe/Berlin", output_dir=tmp_path)
    assert result.digest.is_empty
    assert result.text == "No responses on Thursday 12 March 2026 (Europe/Berlin).\n"
    assert (tmp_path / "digest.txt").read_text() == result.text
    assert not (tmp_path / "nps_trend.png").exists()


def test_skip_empty_sends_nothing(warehouse: Warehouse, tmp_path) -> None:
    out = tmp_path / "out"
    result = _digest(
        warehouse, date=EMPTY_DAY, timezone="Europe/Berlin", output_dir=out, skip_empty=True
    )
    assert result.skipped
    assert result.delivered == []
    assert not out.exists()
