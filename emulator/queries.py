"""Filtered, sorted record lists behind the list endpoints and reporting (§3, §11.5, §11.6).

Each list is built once per store version and filter combination (dates excluded) and cached;
date ranges are then cut with binary searches, so date-windowed requests stay cheap at 1M rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from emulator.models import Contact, Form, HistoryEntry, Response, Segment
from emulator.paging import Key, first_index
from emulator.render import contact_attributes
from emulator.store import Store

CONTACT_ORDERS = (
    "first_seen_at",
    "last_seen_at",
    "last_form_submission_at",
    "display_name",
    "email",
)
INCLUDES = ("completed", "partials", "all")
FORM_LISTS = ("all", "published", "drafts", "archived", "all_with_archived")


def contact_key(order_by: str) -> Callable[[Contact], Key]:
    """Sort key for contacts; sorted descending, nulls last."""
    if order_by in ("display_name", "email"):
        return lambda c: (getattr(c, order_by) or "", c.uuid)
    return lambda c: (getattr(c, order_by) if getattr(c, order_by) is not None else -1, c.uuid)


def response_time(include: str) -> Callable[[Response], int]:
    """The timestamp that orders and date-filters responses for this `include`."""
    if include == "all":
        return lambda r: r.last_shown_at
    return lambda r: r.last_data_reception_at or 0


def response_key(include: str) -> Callable[[Response], Key]:
    """Sort key for responses; sorted descending (newest first)."""
    if include == "all":
        return lambda r: (r.last_shown_at, r.uuid)
    return lambda r: (r.last_data_reception_at or 0, r.uuid)


def name_key(record: Form | Segment) -> Key:
    """Sort key for forms and segments (ascending by name)."""
    return (record.name, record.uuid)


def history_key(entry: HistoryEntry) -> Key:
    """Sort key for form history (descending by time)."""
    return (entry.created_at, entry.uuid)


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_matches(item, wanted) for item in value)
    if isinstance(value, bool):
        return str(wanted).lower() in (("true", "1") if value else ("false", "0"))
    return value is not None and str(value) == str(wanted)


def _contains(needle: str, *haystack: str | None) -> bool:
    return any(value is not None and needle in value.casefold() for value in haystack)


def contacts(
    store: Store,
    *,
    order_by: str,
    form_uuid: str | None,
    segment_uuid: str | None,
    search: str | None,
) -> list[Contact]:
    """GET /contacts rows, sorted by `order_by` descending."""

    def build() -> list[Contact]:
        rows: list[Contact] = list(store.contact_records.values())
        if form_uuid is not None:
            rows = [c for c in rows if any(r.form.uuid == form_uuid for r in c.responses)]
        if segment_uuid is not None:
            rows = [c for c in rows if segment_uuid in c.segments]
        if search is not None:
            needle = search.casefold()
            rows = [
                c
                for c in rows
                if c.uuid == search or _contains(needle, c.email, c.remote_id, c.display_name)
            ]
        rows.sort(key=contact_key(order_by), reverse=True)
        return rows

    result: list[Contact] = store.cached(
        ("contacts", order_by, form_uuid, segment_uuid, search), build
    )
    return result


def responses(
    store: Store,
    *,
    include: str,
    forms: frozenset[str] = frozenset(),
    segments: frozenset[str] = frozenset(),
    tags: frozenset[str] = frozenset(),
    search: str | None = None,
    response_data: tuple[tuple[str, Any], ...] = (),
    contact_data: tuple[tuple[str, Any], ...] = (),
    account_data: tuple[tuple[str, Any], ...] = (),
) -> list[Response]:
    """GET /responses rows before the date range, sorted newest first."""

    def build() -> list[Response]:
        rows: list[Response] = list(store.response_records.values())
        if include == "completed":
            rows = [r for r in rows if r.completed_at is not None]
        elif include == "partials":
            rows = [r for r in rows if r.first_data_reception_at is not None]
        if forms:
            rows = [r for r in rows if r.form.uuid in forms]
        if segments:
            rows = [r for r in rows if not segments.isdisjoint(r.contact.segments)]
        if tags:
            rows = [r for r in rows if any(t.uuid in tags for t in r.tags)]
        if search is not None:
            needle = search.casefold()
            rows = [r for r in rows if _search_response(r, search, needle)]
        for key, wanted in response_data:
            rows = [r for r in rows if _matches(r.answer(key), wanted)]
        if contact_data:
            rows = [
                r for r in rows if _attributes_match(contact_attributes(r.contact), contact_data)
            ]
        if account_data:
            rows = [r for r in rows if _account_matches(r.contact, account_data)]
        rows.sort(key=response_key(include), reverse=True)
        return rows

    key = (
        "responses",
        include,
        forms,
        segments,
        tags,
        search,
        response_data,
        contact_data,
        account_data,
    )
    result: list[Response] = store.cached(key, build)
    return result


def _search_response(response: Response, search: str, needle: str) -> bool:
    person = response.contact
    if search in (response.uuid, person.uuid):
        return True
    return _contains(needle, person.email, person.remote_id, person.display_name)


def _attributes_match(attributes: dict[str, Any], wanted: tuple[tuple[str, Any], ...]) -> bool:
    return all(_matches(attributes.get(key), value) for key, value in wanted)


def _account_matches(person: Contact, wanted: tuple[tuple[str, Any], ...]) -> bool:
    account = person.account
    if account is None:
        return False
    fields = {
        **account.attributes,
        "id": account.remote_id,
        "name": account.display_name,
        "domain": account.domain,
    }
    return _attributes_match(fields, wanted)


def time_slice(
    rows: Sequence[Response], time: Callable[[Response], int], start: int | None, end: int | None
) -> Sequence[Response]:
    """Rows (sorted newest first by `time`) with start <= time < end."""
    low = 0 if end is None else first_index(rows, lambda r: time(r) < end)
    high = len(rows) if start is None else first_index(rows, lambda r: time(r) < start)
    if low == 0 and high == len(rows):
        return rows
    return rows[low:high]


def forms(store: Store, state: str) -> list[Form]:
    """GET /forms rows for a `list` state, by name."""

    def keep(form: Form) -> bool:
        archived = form.archived_at is not None
        if state == "all":
            return not archived
        if state == "published":
            return not archived and form.published_at is not None
        if state == "drafts":
            return not archived and form.published_at is None
        if state == "archived":
            return archived
        return True

    def build() -> list[Form]:
        return sorted((f for f in store.form_records.values() if keep(f)), key=name_key)

    result: list[Form] = store.cached(("forms", state), build)
    return result


def segments(store: Store) -> list[Segment]:
    """GET /segments rows, by name."""
    result: list[Segment] = store.cached(
        ("segments",), lambda: sorted(store.segment_records.values(), key=name_key)
    )
    return result
