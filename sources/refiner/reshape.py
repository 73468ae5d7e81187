"""Refiner pages → typed Arrow tables, one builder per warehouse table.

Every builder takes the raw item dicts of one page (refiner-api.md §4) and returns tables
whose columns, names and types are exactly the warehouse contract, so dlt writes them to
parquet without its per-row JSON normalizer. Columns are built column-wise with list
comprehensions; timestamps are parsed in one vectorised Arrow cast per column.

Typing rules shared by the two long tables (`contact_attributes`, `response_answers`):
- `value_text` always holds the value as text: strings as they are, numbers as written,
  booleans as `true`/`false`, objects and lists as JSON; null stays null.
- `value_number` is set for JSON numbers and for strings that are plain decimal numbers
  (`"9"`, `"-1.5"`, `"2e3"`); `value_bool` for JSON booleans and the strings `true`/`false`.
- `value_timestamp` (attributes only) is set for strings that are ISO 8601 dates or date-times,
  read as UTC instants (zone-less values are UTC, offsets are honoured).
- A multi-select answer (a JSON list) gives one row per element, `position` 0..n-1; a scalar
  answer gives one row at position 0; an empty list gives no row; a null answer gives one row
  with every value null.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sources.refiner.timestamps import parse_timestamp

logger = logging.getLogger(__name__)

# pyarrow imports pandas lazily, on its first conversion. When that first conversion runs in one
# of dlt's extract threads, dlt's own `sys.modules["pandas"]` check on the main thread can meet a
# half-imported module ("partially initialized module 'pandas'"). Importing it here, on the
# thread that imports this module, closes that race.
with contextlib.suppress(ImportError):
    import pandas  # noqa: F401

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
"""Every timestamp column: microseconds, timezone-aware UTC."""

_ZONED = r"(Z|[+-]\d{2}:?\d{2})$"
_DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP_LIKE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
_PLAIN_NUMBER = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$"

RESPONSE_TIMESTAMPS: Final = (
    "first_shown_at",
    "last_shown_at",
    "first_data_reception_at",
    "last_data_reception_at",
    "completed_at",
    "received_at",
    "dismissed_at",
)
CONTACT_TIMESTAMPS: Final = (
    "first_seen_at",
    "last_seen_at",
    "last_form_submission_at",
    "last_tracking_event_at",
)
FORM_TIMESTAMPS: Final = (
    "created_at",
    "updated_at",
    "published_at",
    "archived_at",
    "first_form_view_at",
    "last_form_view_at",
)
USAGE_METRICS: Final = ("mtu", "mte", "mpv", "msr")


def utc_timestamps(values: Sequence[str | None]) -> pa.Array:
    """Parse Refiner timestamp strings into a UTC timestamp array, nulls kept.

    Accepts `...Z`, `+02:00`/`+0200` offsets, zone-less values (UTC), a space or `T`
    separator and bare dates (midnight UTC). A value that is not a timestamp becomes null
    and is logged; it never fails the page.
    """
    text = pa.array(values, type=pa.string())
    if text.null_count == len(text):
        return pa.nulls(len(text), TIMESTAMP)
    zoned = pc.match_substring_regex(text, _ZONED)
    date_only = pc.match_substring_regex(text, _DATE_ONLY)
    suffix = pc.if_else(date_only, "T00:00:00Z", pc.if_else(zoned, "", "Z"))
    try:
        return pc.cast(pc.binary_join_element_wise(text, suffix, ""), TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # One unreadable value fails the whole vectorised cast; parse value by value instead,
        # so only that value becomes null (and is logged).
        return pa.array([_parse_or_none(value) for value in values], type=TIMESTAMP)


def _parse_or_none(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        logger.warning("Ignoring a value that is not a timestamp: %r", value[:80])
        return None


def json_texts(values: Iterable[Any]) -> pa.Array:
    """JSON-encode each value (None stays null) into a string array for a dlt `json` column."""
    encoded = [None if value is None else orjson.dumps(value) for value in values]
    return pa.array(encoded, type=pa.binary()).cast(pa.string())


def _strings(values: Iterable[Any]) -> pa.Array:
    listed = values if isinstance(values, list) else list(values)
    try:
        return pa.array(listed, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_as_text(value) for value in listed], type=pa.string())


def _as_text(value: Any) -> str | None:
    kind = type(value)
    if kind is str or value is None:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    return orjson.dumps(value).decode()


def _ints(values: Iterable[Any]) -> pa.Array:
    return pa.array([v if type(v) is int else None for v in values], type=pa.int64())


def _bools(values: Iterable[Any]) -> pa.Array:
    return pa.array([v if type(v) is bool else None for v in values], type=pa.bool_())


def _floats(values: Iterable[Any]) -> pa.Array:
    return pa.array(
        [float(v) if type(v) in (int, float) else None for v in values], type=pa.float64()
    )


def _table(columns: dict[str, pa.Array]) -> pa.Table:
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def _typed_values(values: list[Any], *, with_timestamps: bool) -> dict[str, pa.Array]:
    """`value_text`, `value_number`, `value_bool` (and `value_timestamp`) for a long table."""
    text = _strings(values)
    numbers = pa.array(
        [v if type(v) is float else float(v) if type(v) is int else None for v in values],
        type=pa.float64(),
    )
    bools = pa.array([v if type(v) is bool else None for v in values], type=pa.bool_())
    is_plain_number = pc.fill_null(pc.match_substring_regex(text, _PLAIN_NUMBER), False)
    if pc.any(is_plain_number).as_py():
        parsed = pc.cast(pc.if_else(is_plain_number, text, None), pa.float64())
        numbers = pc.coalesce(numbers, parsed)
    lowered = pc.utf8_lower(text)
    parsed_bool = pc.if_else(
        pc.equal(lowered, "true"), True, pc.if_else(pc.equal(lowered, "false"), False, None)
    )
    bools = pc.coalesce(bools, pc.cast(parsed_bool, pa.bool_()))
    columns = {"value_text": text, "value_number": numbers, "value_bool": bools}
    if with_timestamps:
        columns["value_timestamp"] = _timestamp_like(text)
    return columns


def _timestamp_like(text: pa.Array) -> pa.Array:
    looks = pc.fill_null(pc.match_substring_regex(text, _TIMESTAMP_LIKE), False)
    if not pc.any(looks).as_py():
        return pa.nulls(len(text), TIMESTAMP)
    candidates = pc.if_else(looks, text, None)
    return utc_timestamps(candidates.to_pylist())


@dataclass(frozen=True, slots=True)
class ResponseTables:
    """One page of responses: the `responses` rows and their `response_answers`."""

    responses: pa.Table
    answers: pa.Table
    answer_rows: pa.Array
    """For each `answers` row, the index of its response in `responses`."""


def reshape_responses(
    items: Sequence[dict[str, Any]], *, with_attributes: bool = False
) -> ResponseTables:
    """Build the `responses` and `response_answers` tables of one page.

    With `with_attributes`, `responses` also gets `contact_attributes` (JSON), the attributes
    Refiner embeds in each response's contact when asked to.
    """
    forms = [item.get("form") or {} for item in items]
    contacts = [item.get("contact") or {} for item in items]
    accounts = [contact.get("account") or {} for contact in contacts]
    uuids = [item.get("uuid") for item in items]
    columns: dict[str, pa.Array] = {"uuid": _strings(uuids)}
    for name in RESPONSE_TIMESTAMPS:
        if name == "first_data_reception_at":
            columns["show_counter"] = _ints(item.get("show_counter") for item in items)
        columns[name] = utc_timestamps([item.get(name) for item in items])
    columns.update(
        form_uuid=_strings(form.get("uuid") for form in forms),
        form_name=_strings(form.get("name") for form in forms),
        contact_uuid=_strings(contact.get("uuid") for contact in contacts),
        contact_remote_id=_strings(contact.get("remote_id") for contact in contacts),
        contact_email=_strings(contact.get("email") for contact in contacts),
        contact_display_name=_strings(contact.get("display_name") for contact in contacts),
        account_uuid=_strings(account.get("uuid") for account in accounts),
        account_remote_id=_strings(account.get("remote_id") for account in accounts),
        data=json_texts(item.get("data") for item in items),
        tags=json_texts(item.get("tags") for item in items),
    )
    if with_attributes:
        columns["contact_attributes"] = json_texts(c.get("attributes") for c in contacts)
    responses = _table(columns)
    answers, answer_rows = _answers(
        items,
        columns["uuid"],
        columns["form_uuid"],
        columns["contact_uuid"],
        columns["last_data_reception_at"],
    )
    return ResponseTables(responses, answers, answer_rows)


def _answers(
    items: Sequence[dict[str, Any]],
    uuids: pa.Array,
    form_uuids: pa.Array,
    contact_uuids: pa.Array,
    answered_at: pa.Array,
) -> tuple[pa.Table, pa.Array]:
    rows: list[int] = []
    questions: list[str] = []
    positions: list[int] = []
    values: list[Any] = []
    add_row, add_question, add_position, add_value = (
        rows.append,
        questions.append,
        positions.append,
        values.append,
    )
    for row, item in enumerate(items):
        data = item.get("data")
        if not data or type(data) is not dict:
            continue
        for question, answer in data.items():
            if type(answer) is list:
                for position, element in enumerate(answer):
                    add_row(row)
                    add_question(question)
                    add_position(position)
                    add_value(element)
            else:
                add_row(row)
                add_question(question)
                add_position(0)
                add_value(answer)
    index = pa.array(rows, type=pa.int64())
    table = _table(
        {
            "response_uuid": uuids.take(index),
            "form_uuid": form_uuids.take(index),
            "contact_uuid": contact_uuids.take(index),
            "question_identifier": pa.array(questions, type=pa.string()),
            "position": pa.array(positions, type=pa.int64()),
            **_typed_values(values, with_timestamps=False),
            "answered_at": answered_at.take(index),
        }
    )
    return table, index


@dataclass(frozen=True, slots=True)
class ContactTables:
    """One page of contacts: `contacts`, `contact_attributes` and `contact_segments` rows, and
    how many contacts had no `last_seen_at` (the incremental cursor)."""

    contacts: pa.Table
    attributes: pa.Table
    segments: pa.Table
    missing_cursor: int
    attribute_rows: pa.Array
    """For each `attributes` row, the index of its contact in `contacts`."""
    segment_rows: pa.Array
    """For each `segments` row, the index of its contact in `contacts`."""


def reshape_contacts(items: Sequence[dict[str, Any]]) -> ContactTables:
    """Build the `contacts`, `contact_attributes` and `contact_segments` tables of one page."""
    accounts = [item.get("account") or {} for item in items]
    uuids = _strings(item.get("uuid") for item in items)
    columns: dict[str, pa.Array] = {
        "uuid": uuids,
        "remote_id": _strings(item.get("remote_id") for item in items),
        "email": _strings(item.get("email") for item in items),
        "display_name": _strings(item.get("display_name") for item in items),
    }
    for name in CONTACT_TIMESTAMPS:
        columns[name] = utc_timestamps([item.get(name) for item in items])
    columns.update(
        account_uuid=_strings(account.get("uuid") for account in accounts),
        account_remote_id=_strings(account.get("remote_id") for account in accounts),
        account_display_name=_strings(account.get("display_name") for account in accounts),
        account_domain=_strings(account.get("domain") for account in accounts),
        attributes=json_texts(item.get("attributes") for item in items),
        account_attributes=json_texts(account.get("attributes") for account in accounts),
    )
    attributes, attribute_rows = _contact_attributes(items, uuids)
    segments, segment_rows = _contact_segments(items, uuids)
    return ContactTables(
        _table(columns),
        attributes,
        segments,
        columns["last_seen_at"].null_count,
        attribute_rows,
        segment_rows,
    )


def _contact_attributes(
    items: Sequence[dict[str, Any]], uuids: pa.Array
) -> tuple[pa.Table, pa.Array]:
    rows: list[int] = []
    names: list[str] = []
    values: list[Any] = []
    for row, item in enumerate(items):
        attributes = item.get("attributes")
        if not attributes or type(attributes) is not dict:
            continue
        rows.extend([row] * len(attributes))
        names.extend(attributes)
        values.extend(attributes.values())
    index = pa.array(rows, type=pa.int64())
    table = _table(
        {
            "contact_uuid": uuids.take(index),
            "name": pa.array(names, type=pa.string()),
            **_typed_values(values, with_timestamps=True),
        }
    )
    return table, index


def _contact_segments(
    items: Sequence[dict[str, Any]], uuids: pa.Array
) -> tuple[pa.Table, pa.Array]:
    rows: list[int] = []
    segments: list[dict[str, Any]] = []
    for row, item in enumerate(items):
        for segment in item.get("segments") or ():
            if type(segment) is dict:
                rows.append(row)
                segments.append(segment)
    index = pa.array(rows, type=pa.int64())
    table = _table(
        {
            "contact_uuid": uuids.take(index),
            "segment_uuid": _strings(segment.get("uuid") for segment in segments),
            "segment_name": _strings(segment.get("name") for segment in segments),
            "entered_at": utc_timestamps([segment.get("created_at") for segment in segments]),
        }
    )
    return table, index


def reshape_forms(items: Sequence[dict[str, Any]]) -> pa.Table:
    """Build the `forms` table of one page (fields missing without include_info are null)."""
    columns: dict[str, pa.Array] = {
        "uuid": _strings(item.get("uuid") for item in items),
        "name": _strings(item.get("name") for item in items),
        "channels": json_texts(item.get("channels") for item in items),
    }
    for name in FORM_TIMESTAMPS:
        columns[name] = utc_timestamps([item.get(name) for item in items])
    columns.update(
        folder=json_texts(item.get("folder") for item in items),
        responses_count=_ints(item.get("responses_count") for item in items),
        views_count=_ints(item.get("views_count") for item in items),
        page_url=_strings(item.get("page_url") for item in items),
        config=json_texts(item.get("config") for item in items),
    )
    return _table(columns)


def reshape_segments(items: Sequence[dict[str, Any]]) -> pa.Table:
    """Build the `segments` table of one page."""
    return _table(
        {
            "uuid": _strings(item.get("uuid") for item in items),
            "name": _strings(item.get("name") for item in items),
            "is_manual": _bools(item.get("is_manual") for item in items),
        }
    )


def reshape_report(
    report_type: str, form_uuid: str, day: date, body: dict[str, Any]
) -> dict[str, Any]:
    """One `reporting` row from a report body (refiner-api.md §4.6) for one form and day.

    `score` is the type's headline figure (nps, csat, or the ratings average); `count` is the
    number of data points (`datapoints` for distribution); `breakdown` is the report's `data`.
    """
    breakdown = body.get("data")
    counts = breakdown if isinstance(breakdown, dict) else {}
    score = body.get({"nps": "nps", "csat": "csat", "ratings": "average"}.get(report_type, ""))
    count = body.get("datapoints") if report_type == "distribution" else body.get("count")
    return {
        "report_type": report_type,
        "form_uuid": form_uuid,
        "day": day,
        "score": float(score)
        if isinstance(score, int | float) and type(score) is not bool
        else None,
        "count": count if type(count) is int else None,
        "views": _count(body, "views"),
        "responses": _count(body, "responses"),
        "promoters": _count(counts, "promoters") if report_type == "nps" else None,
        "passives": _count(counts, "passives") if report_type == "nps" else None,
        "detractors": _count(counts, "detractors") if report_type == "nps" else None,
        "breakdown": breakdown,
        "date_range_start": _parse_or_none(body.get("date_range_start")),
        "date_range_end": _parse_or_none(body.get("date_range_end")),
    }


def _count(counts: dict[str, Any], key: str) -> int | None:
    value = counts.get(key)
    return value if type(value) is int else None


def reshape_account_usage(
    body: dict[str, Any], snapshot_at: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `account_usage` row and the `account_usage_environments` rows of one snapshot."""
    subscription = body.get("subscription") or {}
    usage: dict[str, Any] = {"snapshot_at": snapshot_at, "plan": subscription.get("plan")}
    for metric in USAGE_METRICS:
        for suffix in ("count", "limit"):
            usage[f"{metric}_{suffix}"] = subscription.get(f"{metric}_{suffix}")
    for metric in USAGE_METRICS:
        usage[f"{metric}_count_updated_at"] = _parse_or_none(
            subscription.get(f"{metric}_count_updated_at")
        )
    usage.pop("mte_limit")
    environments = [
        {
            "snapshot_at": snapshot_at,
            "uuid": environment.get("uuid"),
            "name": environment.get("name"),
            **{metric: environment.get(metric) for metric in USAGE_METRICS},
        }
        for environment in body.get("environments") or ()
        if isinstance(environment, dict)
    ]
    return usage, environments
