"""What a digest holds: figures read from the dbt marts, the top comments, the 30-day trend.

Everything here is plain data; `Digest.as_dict()` is the content of `digest.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from pipelines.digest.periods import Period


@dataclass(frozen=True)
class NpsFigures:
    """NPS answers of completed responses in one period; `score` is None without answers."""

    promoters: int
    passives: int
    detractors: int
    answers: int
    score: float | None


@dataclass(frozen=True)
class CsatFigures:
    """CSAT answers in one period: `score` is the % of answers at 4 or 5 (of 5)."""

    satisfied: int
    answers: int
    score: float | None
    average: float | None


@dataclass(frozen=True)
class SurveyCount:
    """Completed responses of one survey in the period and in the period before."""

    form_uuid: str
    survey: str
    responses: int
    previous_responses: int


@dataclass(frozen=True)
class Comment:
    """A free-text answer with its survey and the response's NPS or CSAT score."""

    text: str
    survey: str
    nps_score: int | None
    csat_score: float | None
    contact_name: str | None
    contact_email: str | None
    response_uuid: str
    completed_at: datetime

    @property
    def category(self) -> str | None:
        """The response's NPS category, if it has an NPS score."""
        if self.nps_score is None:
            return None
        if self.nps_score >= 9:
            return "promoter"
        return "passive" if self.nps_score >= 7 else "detractor"

    @property
    def score_label(self) -> str:
        """`NPS 3`, `CSAT 2` or an empty string."""
        if self.nps_score is not None:
            return f"NPS {self.nps_score}"
        if self.csat_score is not None:
            return f"CSAT {self.csat_score:g}"
        return ""


@dataclass(frozen=True)
class TrendPoint:
    """One local day of the NPS trend; `nps` is None on a day without NPS answers."""

    day: date
    answers: int
    nps: float | None


@dataclass(frozen=True)
class Summary:
    """A few sentences on the digest, which summariser wrote them, and any fallback note."""

    text: str
    summarizer: str
    note: str | None = None


@dataclass(frozen=True)
class Digest:
    """The figures of `period` next to those of `previous`, as the marts hold them."""

    period: Period
    previous: Period
    nps: NpsFigures
    previous_nps: NpsFigures
    csat: CsatFigures
    previous_csat: CsatFigures
    surveys: tuple[SurveyCount, ...]
    comments: tuple[Comment, ...]
    trend: tuple[TrendPoint, ...]
    loaded_at: datetime | None
    summary: Summary | None = field(default=None)

    @property
    def responses(self) -> int:
        """Completed responses in the period (the sum of the marts' per-survey counts)."""
        return sum(survey.responses for survey in self.surveys)

    @property
    def previous_responses(self) -> int:
        """Completed responses in the period before."""
        return sum(survey.previous_responses for survey in self.surveys)

    @property
    def is_empty(self) -> bool:
        """Whether the period has no completed response."""
        return self.responses == 0

    @property
    def nps_change(self) -> float | None:
        """NPS points gained since the period before; None when either has no NPS."""
        return _difference(self.nps.score, self.previous_nps.score)

    @property
    def csat_change(self) -> float | None:
        """CSAT points gained since the period before; None when either has no CSAT."""
        return _difference(self.csat.score, self.previous_csat.score)

    @property
    def responses_change_percent(self) -> float | None:
        """Change in responses, in % of the period before; None when it had none."""
        if self.previous_responses == 0:
            return None
        return 100.0 * (self.responses - self.previous_responses) / self.previous_responses

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable digest (`digest.json`): dates as ISO strings."""
        return _jsonable(
            {
                "period": _period_dict(self.period),
                "previous_period": _period_dict(self.previous),
                "empty": self.is_empty,
                "responses": {
                    "count": self.responses,
                    "previous_count": self.previous_responses,
                    "change_percent": self.responses_change_percent,
                    "per_survey": [asdict(survey) for survey in self.surveys],
                },
                "nps": {
                    **asdict(self.nps),
                    "previous": asdict(self.previous_nps),
                    "change_points": self.nps_change,
                },
                "csat": {
                    **asdict(self.csat),
                    "previous": asdict(self.previous_csat),
                    "change_points": self.csat_change,
                },
                "comments": [
                    {**asdict(comment), "category": comment.category} for comment in self.comments
                ],
                "nps_trend": [asdict(point) for point in self.trend],
                "summary": asdict(self.summary) if self.summary else None,
                "data_loaded_at": self.loaded_at,
            }
        )


def _difference(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    return current - previous


def _period_dict(period: Period) -> dict[str, Any]:
    return {
        "kind": period.kind,
        "first_day": period.first_day,
        "last_day": period.last_day,
        "timezone": period.timezone,
        "start": period.start,
        "end": period.end,
        "label": period.label,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value
