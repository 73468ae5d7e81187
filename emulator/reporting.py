"""GET /reporting (§3.10, §4.6), computed from the stored responses.

Data points are answers (completed or partial) whose response's `last_data_reception_at` lies in
[date_range_start, date_range_end). Without `question_identifiers`, a report uses the questions
whose form element has the report's type (distribution: every non-text question). Rounding is
half away from zero: nps = round(100 * (promoters - detractors) / count), csat = round(100 *
(satisfied + very_satisfied) / count), ratings average to 2 decimals.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from emulator import queries
from emulator.models import Response
from emulator.store import Store
from emulator.timefmt import plain

REPORT_TYPES = ("nps", "csat", "ratings", "distribution", "count")
CSAT_LABELS = ("very_unsatisfied", "unsatisfied", "neutral", "satisfied", "very_satisfied")
_TYPE_OF_REPORT = {"nps": "nps", "csat": "csat", "ratings": "rating"}


def round_half_away(value: float) -> int:
    """Round to the nearest integer, halves away from zero (52.5 -> 53)."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _label_order(item: tuple[str, int]) -> tuple[int, float, str]:
    """Numbers first in numeric order, then other labels alphabetically."""
    number = _number(item[0])
    return (0, number, "") if number is not None else (1, 0.0, item[0])


def _answers(
    rows: Sequence[Response], report_type: str, identifiers: frozenset[str]
) -> Iterator[tuple[Response, Any]]:
    element_type = _TYPE_OF_REPORT.get(report_type)
    for response in rows:
        form = response.form
        for key, value in zip(response.keys, response.values, strict=True):
            if value is None:
                continue
            if identifiers:
                if key not in identifiers:
                    continue
            else:
                question = form.question(key)
                if question is None:
                    continue
                if element_type is not None and question.type != element_type:
                    continue
                if element_type is None and question.type == "text":
                    continue
            yield response, value


def report(
    store: Store,
    report_type: str,
    *,
    start: int,
    end: int,
    identifiers: frozenset[str],
    forms: frozenset[str],
    segments: frozenset[str],
    tags: frozenset[str],
    echo_start: str | None = None,
    echo_end: str | None = None,
) -> dict[str, Any]:
    """The report body for `report_type` over [start, end)."""
    window = {
        "date_range_start": echo_start or plain(start),
        "date_range_end": echo_end or plain(end),
    }
    if report_type == "count":
        return {**_count(store, start, end, forms, segments, tags), **window}
    rows = queries.responses(store, include="partials", forms=forms, segments=segments, tags=tags)
    rows_in_range = queries.time_slice(rows, queries.response_time("partials"), start, end)
    answers = list(_answers(rows_in_range, report_type, identifiers))
    if report_type == "distribution":
        body = _distribution(answers)
    else:
        numbers = [n for n in (_number(value) for _, value in answers) if n is not None]
        if report_type == "nps":
            body = _nps(numbers)
        elif report_type == "csat":
            body = _csat(numbers)
        else:
            body = _ratings(numbers)
    return {**body, **window}


def _nps(numbers: list[float]) -> dict[str, Any]:
    promoters = sum(1 for n in numbers if n >= 9)
    detractors = sum(1 for n in numbers if n <= 6)
    passives = len(numbers) - promoters - detractors
    count = len(numbers)
    score = round_half_away(100 * (promoters - detractors) / count) if count else 0
    return {
        "nps": score,
        "count": count,
        "data": {"detractors": detractors, "passives": passives, "promoters": promoters},
    }


def _csat(numbers: list[float]) -> dict[str, Any]:
    counts = dict.fromkeys(CSAT_LABELS, 0)
    for number in numbers:
        index = min(max(int(number), 1), 5) - 1
        counts[CSAT_LABELS[index]] += 1
    count = len(numbers)
    satisfied = counts["satisfied"] + counts["very_satisfied"]
    score = round_half_away(100 * satisfied / count) if count else 0
    return {"csat": score, "count": count, "data": counts}


def _ratings(numbers: list[float]) -> dict[str, Any]:
    total = sum(numbers)
    count = len(numbers)
    histogram = Counter(_label(n) for n in numbers)
    ordered = sorted(histogram, key=float)
    return {
        "average": round_half_away(100 * total / count) / 100 if count else 0,
        "sum": int(total) if float(total).is_integer() else total,
        "count": count,
        "data": {label: histogram[label] for label in ordered},
    }


def _distribution(answers: list[tuple[Response, Any]]) -> dict[str, Any]:
    histogram: Counter[str] = Counter()
    responses: set[str] = set()
    for response, value in answers:
        responses.add(response.uuid)
        for item in value if isinstance(value, list | tuple) else (value,):
            histogram[_label(item)] += 1
    return {
        "datapoints": sum(histogram.values()),
        "responses": len(responses),
        "data": dict(sorted(histogram.items(), key=_label_order)),
    }


def _count(
    store: Store,
    start: int,
    end: int,
    forms: frozenset[str],
    segments: frozenset[str],
    tags: frozenset[str],
) -> dict[str, int]:
    views = queries.responses(store, include="all", forms=forms, segments=segments, tags=tags)
    completed = queries.responses(
        store, include="completed", forms=forms, segments=segments, tags=tags
    )
    return {
        "views": len(queries.time_slice(views, queries.response_time("all"), start, end)),
        "responses": len(
            queries.time_slice(completed, queries.response_time("completed"), start, end)
        ),
    }
