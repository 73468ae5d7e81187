"""Helpers of the transform tests (issue 4, section 1 and its acceptance points).

Each test module seeds one emulator, runs `refiner load` and `refiner transform` once (module
scope) into a real warehouse, and checks the dbt models against the emulator's ground truth,
computed here from the API shapes in `emulator.store` and never from the warehouse.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig

SCHEMA = "refiner_analytics"
MODELS = (
    "stg_refiner__contacts",
    "stg_refiner__contact_attributes",
    "stg_refiner__forms",
    "stg_refiner__responses",
    "stg_refiner__response_answers",
    "stg_refiner__segments",
    "stg_refiner__reporting",
    "int_refiner__form_questions",
    "dim_contacts",
    "dim_forms",
    "fct_responses",
    "fct_answers",
    "nps_daily",
    "csat_daily",
    "contact_traits",
)
TRAIT_COLUMNS = (
    "remote_id",
    "email",
    "nps_score",
    "nps_category",
    "responses_last_90d",
    "last_response_at",
    "csat_average",
    "feedback_health",
)


def transform_seed() -> SeedConfig:
    """Small but varied: every question type, partial responses, a month of reports."""
    return SeedConfig(
        seed=11, contacts=60, accounts=12, forms=6, segments=4, responses=400, days=30
    )


@contextmanager
def refiner_env(emulator: Emulator, include: str, **extra: str) -> Iterator[None]:
    """The environment a user sets to load from `emulator` (plus dbt artifact paths)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
            "SOURCES__REFINER__BASE_URL": emulator.base_url,
            "SOURCES__REFINER__INCLUDE": include,
            "SOURCES__REFINER__START_DATE": "2024-01-01",
            **extra,
        }.items():
            patch.setenv(name, value)
        yield


def dbt_paths(directory: Path) -> dict[str, str]:
    """DBT_TARGET_PATH / DBT_LOG_PATH under `directory`, so parallel tests never share them."""
    return {"DBT_TARGET_PATH": str(directory / "target"), "DBT_LOG_PATH": str(directory / "logs")}


def run_results(target_path: Path) -> dict[str, str]:
    """Node name -> status of the last dbt invocation (run_results.json)."""
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    return {item["unique_id"].split(".")[-1]: item["status"] for item in results}


def consistency_is_exact(target_path: Path) -> bool:
    """Whether the last build compiled the exact (partials loaded) NPS consistency check."""
    compiled = next(target_path.glob("compiled/**/assert_nps_daily_matches_reporting.sql"))
    return "abs(recomputed_nps - reported_nps)" in compiled.read_text()


# ------------------------------------------------------------------ ground truth


def _instant(text: str | None) -> datetime | None:
    """An emulator response timestamp ("YYYY-MM-DD HH:MM:SS", UTC)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def question_types(emulator: Emulator) -> dict[tuple[str, str], str]:
    """(form uuid, question id) -> question type, from each form's config."""
    types: dict[tuple[str, str], str] = {}
    for uuid in emulator.store.forms:
        for element in emulator.store.forms[uuid]["config"]["form_elements"]:
            types[(uuid, element["id"])] = element["type"]
    return types


@dataclass(frozen=True)
class Answer:
    """One non-empty numeric answer to an NPS or CSAT question."""

    response_uuid: str
    form_uuid: str
    contact_uuid: str
    question_type: str
    score: float
    answered_at: datetime


def scored_answers(emulator: Emulator, *, partials: bool) -> list[Answer]:
    """NPS and CSAT answers of the responses a load with this `include` fetches."""
    types = question_types(emulator)
    answers = []
    for uuid in emulator.store.responses:
        response = emulator.store.responses[uuid]
        loaded = response["completed_at"] or (partials and response["first_data_reception_at"])
        if not loaded:
            continue
        form_uuid = response["form"]["uuid"]
        for key, value in response["data"].items():
            kind = types.get((form_uuid, key))
            score = _number(value)
            if kind in ("nps", "csat") and score is not None:
                answered_at = _instant(response["last_data_reception_at"])
                assert answered_at is not None
                answers.append(
                    Answer(uuid, form_uuid, response["contact"]["uuid"], kind, score, answered_at)
                )
    return answers


def nps_category(score: float) -> str:
    """Refiner's NPS buckets."""
    return "promoter" if score >= 9 else "detractor" if score <= 6 else "passive"


def expected_nps_daily(answers: list[Answer]) -> dict[tuple[str, date], dict[str, Any]]:
    """(form, UTC day) -> promoters, passives, detractors, responses, nps."""
    buckets: dict[tuple[str, date], dict[str, int]] = defaultdict(
        lambda: {"promoters": 0, "passives": 0, "detractors": 0}
    )
    for answer in answers:
        if answer.question_type == "nps":
            key = (answer.form_uuid, answer.answered_at.date())
            buckets[key][nps_category(answer.score) + "s"] += 1
    expected = {}
    for key, counts in buckets.items():
        total = sum(counts.values())
        nps = 100 * (counts["promoters"] - counts["detractors"]) / total
        expected[key] = {**counts, "responses": total, "nps": nps}
    return expected


def expected_traits(
    emulator: Emulator, answers: list[Answer], *, partials: bool, now: datetime
) -> dict[str, dict[str, Any]]:
    """contact_traits by identifier (remote_id, else email), per the model's documentation."""
    latest: dict[str, Answer] = {}
    for answer in answers:
        if answer.question_type != "nps":
            continue
        current = latest.get(answer.contact_uuid)
        if current is None or (answer.answered_at, answer.response_uuid) > (
            current.answered_at,
            current.response_uuid,
        ):
            latest[answer.contact_uuid] = answer
    csat: dict[str, list[float]] = defaultdict(list)
    for answer in answers:
        if answer.question_type == "csat":
            csat[answer.contact_uuid].append(answer.score)
    activity: dict[str, list[datetime]] = defaultdict(list)
    for uuid in emulator.store.responses:
        response = emulator.store.responses[uuid]
        loaded = response["completed_at"] or (partials and response["first_data_reception_at"])
        at = _instant(response["last_data_reception_at"])
        if loaded and at is not None:
            activity[response["contact"]["uuid"]].append(at)
    expected = {}
    for uuid in emulator.store.contacts:
        contact = emulator.store.contacts[uuid]
        identifier = contact["remote_id"] or contact["email"]
        if identifier is None:
            continue
        nps = latest.get(uuid)
        category = nps_category(nps.score) if nps else None
        scores = csat.get(uuid)
        average = _round_half_up(sum(scores) / len(scores), 2) if scores else None
        times = activity.get(uuid, [])
        expected[identifier] = {
            "remote_id": contact["remote_id"],
            "email": contact["email"],
            "nps_score": int(nps.score) if nps else None,
            "nps_category": category,
            "responses_last_90d": sum(1 for at in times if at >= now - timedelta(days=90)),
            "last_response_at": max(times) if times else None,
            "csat_average": average,
            "feedback_health": feedback_health(category, average),
        }
    return expected


def _round_half_up(value: float, digits: int) -> float:
    scale = 10**digits
    return math.floor(value * scale + 0.5) / scale


def feedback_health(category: str | None, csat_average: float | None) -> str:
    """The documented rule of contact_traits.feedback_health."""
    if category is None and csat_average is None:
        return "no_feedback"
    if category == "detractor" or (csat_average is not None and csat_average <= 2.5):
        return "at_risk"
    if category == "promoter" and (csat_average is None or csat_average >= 4):
        return "healthy"
    return "neutral"


def as_trait_rows(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """contact_traits rows (in TRAIT_COLUMNS order) by identifier, values normalised."""
    result = {}
    for row in rows:
        record = dict(zip(TRAIT_COLUMNS, row, strict=True))
        if record["last_response_at"] is not None:
            record["last_response_at"] = record["last_response_at"].astimezone(UTC)
        if record["csat_average"] is not None:
            record["csat_average"] = float(record["csat_average"])
        result[record["remote_id"] or record["email"]] = record
    return result


def assert_nps_daily(rows: list[tuple[Any, ...]], expected: Mapping[Any, dict[str, Any]]) -> None:
    """nps_daily rows (form, day, promoters, passives, detractors, responses, nps) == truth."""
    actual = {
        (form, day): {
            "promoters": promoters,
            "passives": passives,
            "detractors": detractors,
            "responses": responses,
            "nps": float(nps),
        }
        for form, day, promoters, passives, detractors, responses, nps in rows
    }
    assert actual.keys() == expected.keys()
    for key, values in expected.items():
        assert actual[key] == pytest.approx(values), key
