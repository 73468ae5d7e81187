"""Refiner API v1 endpoints (§2, §3), one function per operation, written from refiner-api.md.

Each endpoint takes the store and the merged request parameters and returns a `Reply`, or raises
`ApiError` for a 4xx. List endpoints attach their `ListContext` so page-level faults (duplicate
items, empty pages, repeated cursors) can reshape the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from emulator import queries, render, reporting
from emulator.errors import bad_request, not_found
from emulator.models import Contact, Form
from emulator.paging import Key, PageResult, encode_cursor, page_request, paginate
from emulator.params import get_bool, get_dict, get_list, get_str
from emulator.store import Store
from emulator.timefmt import iso_z, parse_instant, plain, to_datetime

MAX_TRAIT_LENGTH = 255
MAX_TAGS = 20
IDENTIFY_RESERVED = frozenset({"id", "email", "account", "attributes", "api_key"})
STORE_RESERVED = frozenset(
    {
        "id",
        "email",
        "uuid",
        "form_uuid",
        "date",
        "prevent_duplicates",
        "tags",
        "account",
        "api_key",
        "response_data",
    }
)
NUMERIC_QUESTIONS = frozenset({"nps", "csat", "rating"})
OK = {"message": "ok"}


@dataclass(slots=True)
class ListContext:
    """What a list reply was cut from: all rows, the page, and how to key and draw a row."""

    tag: str
    rows: Sequence[Any]
    page: PageResult
    key: Callable[[Any], Key]
    draw: Callable[[Any], dict[str, Any]]
    incoming_cursor: str | None

    def cursor_for(self, row: Any) -> str:
        """The cursor that continues after `row`."""
        return encode_cursor(self.tag, self.key(row))


@dataclass(slots=True)
class Reply:
    """Status, JSON body and extra headers; `cacheable` marks pure reads."""

    status: int
    body: dict[str, Any]
    cacheable: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    listing: ListContext | None = None


Endpoint = Callable[[Store, dict[str, Any]], Reply]


# --------------------------------------------------------------------------- helpers
def _instant(params: dict[str, Any], name: str) -> int | None:
    text = get_str(params, name)
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as error:
        raise bad_request(f"{name} is not a valid date") from error


def _trait(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if key.endswith("_at") and value:
            try:
                return iso_z(parse_instant(value))
            except ValueError:
                return value[:MAX_TRAIT_LENGTH]
        return value[:MAX_TRAIT_LENGTH]
    if key.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool):
        return iso_z(int(value))
    return value


def _identity(params: dict[str, Any]) -> tuple[str | None, str | None]:
    return get_str(params, "id"), get_str(params, "email")


def _listing(
    params: dict[str, Any],
    rows: Sequence[Any],
    *,
    tag: str,
    key: Callable[[Any], Key],
    descending: bool,
    draw: Callable[[Any], dict[str, Any]],
    with_cursor: bool = True,
) -> Reply:
    request = page_request(params, tag)
    page = paginate(rows, request, tag=tag, key=key, descending=descending, with_cursor=with_cursor)
    body = {"items": [draw(row) for row in page.records], "pagination": page.pagination}
    context = ListContext(tag, rows, page, key, draw, get_str(params, "page_cursor"))
    return Reply(200, body, cacheable=True, listing=context)


def _contact_by_identifier(store: Store, params: dict[str, Any]) -> Contact:
    uuid, remote_id, email = (
        get_str(params, "uuid"),
        get_str(params, "id"),
        get_str(params, "email"),
    )
    if uuid is None and remote_id is None and email is None:
        raise bad_request("One of id, email or uuid is required")
    person = store.find_contact(uuid=uuid, remote_id=remote_id, email=email)
    if person is None:
        raise not_found("Contact")
    return person


def _form(store: Store, params: dict[str, Any]) -> Form:
    uuid = get_str(params, "form_uuid")
    if uuid is None:
        raise bad_request("form_uuid is required")
    form = store.form_records.get(uuid)
    if form is None:
        raise not_found("Form")
    return form


def _ensure_contact(store: Store, remote_id: str | None, email: str | None) -> str:
    person = store.find_contact(remote_id=remote_id) if remote_id is not None else None
    if person is None and email is not None:
        person = store.find_contact(email=email)
        if (
            person is not None
            and remote_id is not None
            and person.remote_id not in (None, remote_id)
        ):
            person = None
    if person is not None:
        return person.uuid
    return store.upsert_contact(remote_id=remote_id, email=email)


# --------------------------------------------------------------------------- endpoints
def root(store: Store, params: dict[str, Any]) -> Reply:
    """GET / — key probe (§1.4)."""
    return Reply(
        200,
        {
            "project_uuid": store.project_uuid,
            "project_name": store.project_name,
            "message": "Authentication successful",
        },
    )


def identify_user(store: Store, params: dict[str, Any]) -> Reply:
    """POST /identify-user — upsert by id (remote_id) or email, merge traits, group (§3.2)."""
    remote_id, email = _identity(params)
    if remote_id is None and email is None:
        raise bad_request("id or email is required")
    traits = {k: v for k, v in params.items() if k not in IDENTIFY_RESERVED}
    traits.update(get_dict(params, "attributes"))
    account = get_dict(params, "account") or None
    if account is not None and get_str(account, "id") is None:
        raise bad_request("account must include an id")
    display_name: Any = {}
    for name_key in ("display_name", "name"):
        if name_key in traits and isinstance(traits[name_key], str | type(None)):
            display_name = {"display_name": traits[name_key]}
    attributes = {key: _trait(key, value) for key, value in traits.items()}
    if account is not None:
        account = {key: _trait(key, value) for key, value in account.items()}
    with store.lock:
        existing = None
        if remote_id is not None:
            existing = store.find_contact(remote_id=remote_id)
        uuid = store.upsert_contact(
            uuid=existing.uuid if existing is not None else None,
            remote_id=remote_id,
            email=email,
            attributes=attributes,
            account=account,
            **display_name,
        )
    return Reply(202, {"message": "ok", "contact_uuid": uuid})


def track_event(store: Store, params: dict[str, Any]) -> Reply:
    """POST /track-event and /track — record an event, creating the user if needed (§3.3)."""
    event = get_str(params, "event")
    if event is None:
        raise bad_request("event is required")
    remote_id, email = _identity(params)
    if remote_id is None and email is None:
        raise bad_request("id or email is required")
    with store.lock:
        store.track_event(_ensure_contact(store, remote_id, email), event)
    return Reply(202, dict(OK))


def list_contacts(store: Store, params: dict[str, Any]) -> Reply:
    """GET /contacts (§3.4)."""
    order_by = get_str(params, "order_by") or "first_seen_at"
    if order_by not in queries.CONTACT_ORDERS:
        raise bad_request(f"order_by must be one of {', '.join(queries.CONTACT_ORDERS)}")
    rows = queries.contacts(
        store,
        order_by=order_by,
        form_uuid=get_str(params, "form_uuid"),
        segment_uuid=get_str(params, "segment_uuid"),
        search=get_str(params, "search"),
    )
    segments = store.segment_records
    return _listing(
        params,
        rows,
        tag="c:" + order_by,
        key=queries.contact_key(order_by),
        descending=True,
        draw=lambda c: render.contact(c, segments),
    )


def get_contact(store: Store, params: dict[str, Any]) -> Reply:
    """GET /contact — the bare contact (§3.5)."""
    return Reply(200, render.contact(_contact_by_identifier(store, params), store.segment_records))


def delete_contact(store: Store, params: dict[str, Any]) -> Reply:
    """DELETE /contact — cascades to the contact's responses (§3.6)."""
    with store.lock:
        store.delete_contact(_contact_by_identifier(store, params).uuid)
    return Reply(200, dict(OK))


def _pairs(params: dict[str, Any], name: str) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in get_dict(params, name).items()))


def list_responses(store: Store, params: dict[str, Any]) -> Reply:
    """GET /responses (§3.7, §11.6)."""
    include = get_str(params, "include") or "completed"
    if include not in queries.INCLUDES:
        raise bad_request("include must be one of completed, partials, all")
    start, end = _instant(params, "date_range_start"), _instant(params, "date_range_end")
    rows: Sequence[Any] = queries.responses(
        store,
        include=include,
        forms=frozenset(get_list(params, "form_uuid", "form_uuids")),
        segments=frozenset(get_list(params, "segment_uuid", "segment_uuids")),
        tags=frozenset(get_list(params, "tag_uuid", "tag_uuids")),
        search=get_str(params, "search"),
        response_data=_pairs(params, "response_data"),
        contact_data=_pairs(params, "contact_data"),
        account_data=_pairs(params, "account_data"),
    )
    if start is not None or end is not None:
        rows = queries.time_slice(rows, queries.response_time(include), start, end)
    with_attributes = get_bool(params, "with_attributes")
    return _listing(
        params,
        rows,
        tag="r:" + include,
        key=queries.response_key(include),
        descending=True,
        draw=lambda r: render.response(r, with_attributes),
    )


def _coerce_answer(form: Form, key: str, value: Any) -> Any:
    question = form.question(key)
    if question is None or not isinstance(value, str):
        return value
    if question.type in NUMERIC_QUESTIONS:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    if question.type == "yes_no" and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


def store_response(store: Store, params: dict[str, Any]) -> Reply:
    """POST /responses — import a response (§3.8)."""
    form = _form(store, params)
    uuid, remote_id, email = (
        get_str(params, "uuid"),
        get_str(params, "id"),
        get_str(params, "email"),
    )
    if uuid is None and remote_id is None and email is None:
        raise bad_request("One of id, email or uuid is required")
    tags = get_list(params, "tags")
    if len(tags) > MAX_TAGS:
        raise bad_request(f"At most {MAX_TAGS} tags are allowed")
    answers = {k: v for k, v in params.items() if k not in STORE_RESERVED}
    answers.update(get_dict(params, "response_data"))
    answers = {key: _coerce_answer(form, key, value) for key, value in answers.items()}
    when = _instant(params, "date")
    account = get_dict(params, "account") or None
    with store.lock:
        if uuid is not None:
            person = store.find_contact(uuid=uuid)
            if person is None:
                raise not_found("Contact")
            contact_uuid = person.uuid
        else:
            contact_uuid = _ensure_contact(store, remote_id, email)
        if account is not None:
            if get_str(account, "id") is None:
                raise bad_request("account must include an id")
            store.upsert_contact(uuid=contact_uuid, account=account)
        if get_bool(params, "prevent_duplicates", default=True):
            duplicate = store.find_duplicate_response(form.uuid, contact_uuid, answers)
            if duplicate is not None:
                return Reply(200, {"message": "ok", "uuid": duplicate})
        new_uuid = store.add_response(
            form_uuid=form.uuid,
            contact_uuid=contact_uuid,
            data=answers,
            state="completed",
            at=when,
            tags=tags,
        )
    return Reply(200, {"message": "ok", "uuid": new_uuid})


def tag_response(store: Store, params: dict[str, Any]) -> Reply:
    """POST /responses/tags — add tags by name (§3.9)."""
    uuid = get_str(params, "uuid")
    if uuid is None:
        raise bad_request("uuid is required")
    tags = get_list(params, "tags")
    if not tags:
        raise bad_request("tags is required")
    if len(tags) > MAX_TAGS:
        raise bad_request(f"At most {MAX_TAGS} tags are allowed")
    with store.lock:
        if uuid not in store.response_records:
            raise not_found("Response")
        store.tag_response(uuid, tags)
    return Reply(200, dict(OK))


def get_reporting(store: Store, params: dict[str, Any]) -> Reply:
    """GET /reporting (§3.10, §4.6); default range 7 days ago .. end of today (clock)."""
    report_type = get_str(params, "type")
    if report_type is None:
        raise bad_request("type is required")
    if report_type not in reporting.REPORT_TYPES:
        raise bad_request(f"type must be one of {', '.join(reporting.REPORT_TYPES)}")
    today = to_datetime(store.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    start = _instant(params, "date_range_start")
    end = _instant(params, "date_range_end")
    echo_end = None
    if start is None:
        start = int((today - timedelta(days=7)).timestamp())
    if end is None:
        end = int((today + timedelta(days=1)).timestamp())
        echo_end = plain(end - 1)
    body = reporting.report(
        store,
        report_type,
        start=start,
        end=end,
        identifiers=frozenset(get_list(params, "question_identifiers")),
        forms=frozenset(get_list(params, "form_uuids", "form_uuid")),
        segments=frozenset(get_list(params, "segment_uuids", "segment_uuid")),
        tags=frozenset(get_list(params, "tag_uuids", "tag_uuid")),
        echo_end=echo_end,
    )
    return Reply(200, body, cacheable=True)


def list_forms(store: Store, params: dict[str, Any]) -> Reply:
    """GET /forms (§3.11); pagination without next_page_cursor (S5)."""
    state = get_str(params, "list") or "all"
    if state not in queries.FORM_LISTS:
        raise bad_request(f"list must be one of {', '.join(queries.FORM_LISTS)}")
    include_info = get_bool(params, "include_info")
    include_config = get_bool(params, "include_config")
    stats = store.form_stats() if include_info else {}
    return _listing(
        params,
        queries.forms(store, state),
        tag="f:" + state,
        key=queries.name_key,
        descending=False,
        draw=lambda f: render.form(
            f, include_info, include_config, stats.get(f.uuid, (0, 0, None, None))
        ),
        with_cursor=False,
    )


def publish_form(store: Store, params: dict[str, Any]) -> Reply:
    """POST /forms/publish (§3.12)."""
    with store.lock:
        form = _form(store, params)
        store.publish_form(form.uuid, get_bool(params, "published", default=True))
    return Reply(200, dict(OK))


def duplicate_form(store: Store, params: dict[str, Any]) -> Reply:
    """POST /forms/duplicate (§3.13)."""
    name = get_str(params, "name")
    with store.lock:
        form = _form(store, params)
        if name is None:
            raise bad_request("name is required")
        new_uuid = store.duplicate_form(form.uuid, name)
    return Reply(200, {"message": "ok", "source_form_uuid": form.uuid, "new_form_uuid": new_uuid})


def archive_form(store: Store, params: dict[str, Any]) -> Reply:
    """DELETE /forms — archive (§3.14)."""
    with store.lock:
        store.archive_form(_form(store, params).uuid)
    return Reply(200, dict(OK))


def form_history(store: Store, params: dict[str, Any]) -> Reply:
    """GET /forms/history (§3.15), newest first."""
    form = _form(store, params)
    rows = sorted(form.history, key=queries.history_key, reverse=True)
    return _listing(
        params,
        rows,
        tag="h:" + form.uuid,
        key=queries.history_key,
        descending=True,
        draw=lambda e: {
            "uuid": e.uuid,
            "action": e.action,
            "snapshot": e.snapshot,
            "created_at": iso_z(e.created_at),
        },
        with_cursor=False,
    )


def list_segments(store: Store, params: dict[str, Any]) -> Reply:
    """GET /segments (§3.16)."""
    return _listing(
        params,
        queries.segments(store),
        tag="s",
        key=queries.name_key,
        descending=False,
        draw=render.segment,
    )


def _manual_segment(store: Store, params: dict[str, Any]) -> str:
    uuid = get_str(params, "segment_uuid")
    if uuid is None:
        raise bad_request("segment_uuid is required")
    segment = store.segment_records.get(uuid)
    if segment is None:
        raise not_found("Segment")
    if not segment.is_manual:
        raise bad_request("Segment is not a manual segment")
    return uuid


def add_to_segment(store: Store, params: dict[str, Any]) -> Reply:
    """POST /sync-segment — creates the user when missing (§3.17)."""
    remote_id, email = _identity(params)
    with store.lock:
        segment_uuid = _manual_segment(store, params)
        if remote_id is None and email is None:
            raise bad_request("id or email is required")
        contact_uuid = _ensure_contact(store, remote_id, email)
        store.add_to_segment(segment_uuid, contact_uuid)
    return Reply(200, {"message": "ok", "contact_uuid": contact_uuid, "segment_uuid": segment_uuid})


def remove_from_segment(store: Store, params: dict[str, Any]) -> Reply:
    """DELETE /sync-segment (§3.17)."""
    remote_id, email = _identity(params)
    with store.lock:
        segment_uuid = _manual_segment(store, params)
        if remote_id is None and email is None:
            raise bad_request("id or email is required")
        person = store.find_contact(remote_id=remote_id, email=email if remote_id is None else None)
        if person is None:
            raise not_found("Contact")
        store.remove_from_segment(segment_uuid, person.uuid)
    return Reply(200, {"message": "ok", "contact_uuid": person.uuid, "segment_uuid": segment_uuid})


def account_info(store: Store, params: dict[str, Any]) -> Reply:
    """GET /account — plan, month-to-date usage by the clock, environments (§9)."""
    now = to_datetime(store.now())
    month = int(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp())
    updated = iso_z(int(now.replace(minute=0, second=0, microsecond=0).timestamp()))
    mtu = sum(1 for c in store.contact_records.values() if c.last_seen_at >= month)
    mte = sum(1 for e in store.event_records if e.at >= month)
    mpv = sum(1 for r in store.response_records.values() if r.last_shown_at >= month)
    msr = sum(
        1
        for r in store.response_records.values()
        if r.completed_at is not None and r.completed_at >= month
    )
    subscription = {
        "plan": "Growth",
        "mtu_count": mtu,
        "mtu_limit": 5000,
        "mtu_count_updated_at": updated,
        "mte_count": mte,
        "mte_count_updated_at": updated,
        "mpv_count": mpv,
        "mpv_limit": 1000000,
        "mpv_count_updated_at": updated,
        "msr_count": msr,
        "msr_limit": 1000,
        "msr_count_updated_at": updated,
    }
    environments = [
        {
            "uuid": store.project_uuid,
            "name": store.project_name,
            "mtu": mtu,
            "mte": mte,
            "mpv": mpv,
            "msr": msr,
        },
        {
            "uuid": "41aa8e10-9a7e-11ee-b3c1-0b5e7a1f2c44",
            "name": "Testing",
            "mtu": 40,
            "mte": 310,
            "mpv": 1822,
            "msr": 4,
        },
    ]
    return Reply(200, {"subscription": subscription, "environments": environments}, cacheable=True)


ROUTES: dict[tuple[str, str], Endpoint] = {
    ("GET", "/"): root,
    ("POST", "/identify-user"): identify_user,
    ("POST", "/track-event"): track_event,
    ("POST", "/track"): track_event,
    ("GET", "/contacts"): list_contacts,
    ("GET", "/contact"): get_contact,
    ("DELETE", "/contact"): delete_contact,
    ("GET", "/responses"): list_responses,
    ("POST", "/responses"): store_response,
    ("POST", "/responses/tags"): tag_response,
    ("GET", "/reporting"): get_reporting,
    ("GET", "/forms"): list_forms,
    ("POST", "/forms/publish"): publish_form,
    ("POST", "/forms/duplicate"): duplicate_form,
    ("DELETE", "/forms"): archive_form,
    ("GET", "/forms/history"): form_history,
    ("GET", "/segments"): list_segments,
    ("POST", "/sync-segment"): add_to_segment,
    ("DELETE", "/sync-segment"): remove_from_segment,
    ("GET", "/account"): account_info,
}
PATHS = frozenset(path for _, path in ROUTES)
