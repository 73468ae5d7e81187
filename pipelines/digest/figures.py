"""The digest's figures, each computed by SQL on the dbt marts.

Sources: `fct_answers` (NPS categories, CSAT scores and free-text answers, with the response's
`completed_at`), `fct_responses` (completed responses and their NPS/CSAT scores), `dim_forms`
(survey names) and `dim_contacts` (who wrote a comment). A response belongs to the period that
holds its `completed_at` in the digest's time zone; partial responses never count.
The SQL runs unchanged on DuckDB and PostgreSQL; values are bound as parameters and schema names
pass `identifier()` first.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pipelines.digest.model import (
    Comment,
    CsatFigures,
    Digest,
    NpsFigures,
    SurveyCount,
    TrendPoint,
)
from pipelines.digest.periods import TREND_DAYS, Period
from pipelines.errors import ConfigError
from pipelines.sync.warehouse import Warehouse, identifier

TOP_COMMENTS = 5
# Answers of these question types are scores or choices, never comments.
NOT_COMMENTS = ("nps", "csat", "rating", "multiple_choice", "single_choice", "yes_no")
MARTS = ("fct_answers", "fct_responses", "dim_forms", "dim_contacts")
_WINDOW = (
    "completed_at >= cast(? as timestamp with time zone) "
    "and completed_at < cast(? as timestamp with time zone)"
)

NPS_SQL = f"""
select
    coalesce(sum(case when nps_category = 'promoter' then 1 else 0 end), 0),
    coalesce(sum(case when nps_category = 'passive' then 1 else 0 end), 0),
    coalesce(sum(case when nps_category = 'detractor' then 1 else 0 end), 0),
    count(*),
    100.0 * (
        sum(case when nps_category = 'promoter' then 1 else 0 end)
        - sum(case when nps_category = 'detractor' then 1 else 0 end)
    ) / nullif(count(*), 0)
from {{answers}}
where nps_category is not null and {_WINDOW}
"""

CSAT_SQL = f"""
select
    coalesce(sum(case when value_number >= 4 then 1 else 0 end), 0),
    count(*),
    100.0 * sum(case when value_number >= 4 then 1 else 0 end) / nullif(count(*), 0),
    avg(value_number)
from {{answers}}
where question_type = 'csat' and value_number is not null and {_WINDOW}
"""

SURVEYS_SQL = """
select
    responses.form_uuid,
    coalesce(max(forms.form_name), responses.form_uuid) as survey,
    sum(case when responses.completed_at >= cast(? as timestamp with time zone) then 1 else 0 end),
    sum(case when responses.completed_at < cast(? as timestamp with time zone) then 1 else 0 end)
from {responses} as responses
left join {forms} as forms on responses.form_uuid = forms.form_uuid
where
    responses.completed_at >= cast(? as timestamp with time zone)
    and responses.completed_at < cast(? as timestamp with time zone)
group by responses.form_uuid
order by 3 desc, 4 desc, 2, 1
"""

COMMENTS_SQL = f"""
select
    answers.value_text,
    coalesce(forms.form_name, answers.form_uuid),
    responses.nps_score,
    responses.csat_score,
    contacts.display_name,
    contacts.email,
    answers.response_uuid,
    answers.completed_at
from {{answers}} as answers
inner join {{responses}} as responses on answers.response_uuid = responses.response_uuid
left join {{forms}} as forms on answers.form_uuid = forms.form_uuid
left join {{contacts}} as contacts on answers.contact_uuid = contacts.contact_uuid
where
    answers.value_text is not null
    and trim(answers.value_text) != ''
    and answers.question_type not in ({", ".join(f"'{kind}'" for kind in NOT_COMMENTS)})
    and answers.completed_at >= cast(? as timestamp with time zone)
    and answers.completed_at < cast(? as timestamp with time zone)
order by
    case
        when responses.nps_score <= 6 then 0
        when responses.csat_score <= 2 then 1
        else 2
    end,
    coalesce(responses.nps_score, 11),
    coalesce(responses.csat_score, 6),
    length(answers.value_text) desc,
    answers.response_uuid,
    answers.question_identifier
limit {TOP_COMMENTS}
"""

TREND_SQL = f"""
select
    cast(completed_at at time zone ? as date) as local_day,
    count(*),
    100.0 * (
        sum(case when nps_category = 'promoter' then 1 else 0 end)
        - sum(case when nps_category = 'detractor' then 1 else 0 end)
    ) / count(*)
from {{answers}}
where nps_category is not null and {_WINDOW}
group by 1
order by 1
"""

LOADED_AT_SQL = "select max(inserted_at) from {loads} where status = 0"


def build_digest(
    warehouse: Warehouse, period: Period, *, analytics_schema: str, dataset: str
) -> Digest:
    """Read the figures of `period` and of the period before from the marts in
    `analytics_schema`; `dataset` (the dlt dataset) gives the time of the last load.

    Raises ConfigError when the marts are missing (run `refiner transform` first).
    """
    tables = _tables(warehouse, analytics_schema)
    previous = period.previous()
    return Digest(
        period=period,
        previous=previous,
        nps=_nps(warehouse, tables, period),
        previous_nps=_nps(warehouse, tables, previous),
        csat=_csat(warehouse, tables, period),
        previous_csat=_csat(warehouse, tables, previous),
        surveys=_surveys(warehouse, tables, period),
        comments=_comments(warehouse, tables, period),
        trend=_trend(warehouse, tables, period),
        loaded_at=_loaded_at(warehouse, dataset),
    )


def _tables(warehouse: Warehouse, schema: str) -> dict[str, str]:
    identifier(schema, "analytics schema")
    missing = [name for name in MARTS if not warehouse.table_exists(schema, name)]
    if missing:
        raise ConfigError(
            f"The marts {', '.join(missing)} are missing from schema {schema!r}; "
            "run `refiner transform` first."
        )
    return {
        "answers": warehouse.qualified(schema, "fct_answers"),
        "responses": warehouse.qualified(schema, "fct_responses"),
        "forms": warehouse.qualified(schema, "dim_forms"),
        "contacts": warehouse.qualified(schema, "dim_contacts"),
    }


def _window(start: datetime, end: datetime) -> tuple[str, str]:
    return start.isoformat(), end.isoformat()


def _one_row(warehouse: Warehouse, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
    _, rows = warehouse.query(sql, params)
    return rows[0]


def _nps(warehouse: Warehouse, tables: dict[str, str], period: Period) -> NpsFigures:
    row = _one_row(warehouse, NPS_SQL.format(**tables), _window(period.start, period.end))
    promoters, passives, detractors, answers, score = row
    return NpsFigures(
        promoters=int(promoters),
        passives=int(passives),
        detractors=int(detractors),
        answers=int(answers),
        score=_float(score),
    )


def _csat(warehouse: Warehouse, tables: dict[str, str], period: Period) -> CsatFigures:
    row = _one_row(warehouse, CSAT_SQL.format(**tables), _window(period.start, period.end))
    satisfied, answers, score, average = row
    return CsatFigures(
        satisfied=int(satisfied),
        answers=int(answers),
        score=_float(score),
        average=_float(average),
    )


def _surveys(
    warehouse: Warehouse, tables: dict[str, str], period: Period
) -> tuple[SurveyCount, ...]:
    start, end = _window(period.start, period.end)
    previous_start = period.previous().start.isoformat()
    params = (start, start, previous_start, end)
    _, rows = warehouse.query(SURVEYS_SQL.format(**tables), params)
    return tuple(
        SurveyCount(str(form), str(name), int(current), int(before))
        for form, name, current, before in rows
    )


def _comments(warehouse: Warehouse, tables: dict[str, str], period: Period) -> tuple[Comment, ...]:
    _, rows = warehouse.query(COMMENTS_SQL.format(**tables), _window(period.start, period.end))
    return tuple(
        Comment(
            text=str(text),
            survey=str(survey),
            nps_score=None if nps is None else int(nps),
            csat_score=_float(csat),
            contact_name=name,
            contact_email=email,
            response_uuid=str(response),
            completed_at=completed,
        )
        for text, survey, nps, csat, name, email, response, completed in rows
    )


def _trend(warehouse: Warehouse, tables: dict[str, str], period: Period) -> tuple[TrendPoint, ...]:
    start, end = _window(period.trend_start(), period.end)
    _, rows = warehouse.query(TREND_SQL.format(**tables), (period.timezone, start, end))
    by_day: dict[date, tuple[int, float]] = {
        _as_date(day): (int(answers), float(nps)) for day, answers, nps in rows
    }
    days = [period.last_day - timedelta(days=offset) for offset in range(TREND_DAYS - 1, -1, -1)]
    return tuple(
        TrendPoint(day, *by_day[day]) if day in by_day else TrendPoint(day, 0, None) for day in days
    )


def _loaded_at(warehouse: Warehouse, dataset: str) -> datetime | None:
    identifier(dataset, "dataset")
    if not warehouse.table_exists(dataset, "_dlt_loads"):
        return None
    sql = LOADED_AT_SQL.format(loads=warehouse.qualified(dataset, "_dlt_loads"))
    value = _one_row(warehouse, sql, ())[0]
    return value if isinstance(value, datetime) else None


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
