"""One API request from parameters to bytes: faults, auth (§11.1), routing, caching, reshaping.

Independent of sockets: the HTTP handler performs the `Outcome` (including dropped connections
and truncated bodies), and `Emulator.prewarm` calls `process` directly to pre-render pages.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from emulator import api
from emulator.errors import ApiError
from emulator.faults import Decision, Rule
from emulator.records import TIMESTAMP_FIELDS
from emulator.store import Store
from emulator.timefmt import iso_z, parse_instant, plain

JSON = "application/json"
HTML = "text/html; charset=utf-8"
_WELL_FORMED = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32,64})$"
)
MIN_KEY_LENGTH = 8
TIMESTAMP_KEYS = frozenset(
    {
        *TIMESTAMP_FIELDS,
        "first_seen_at",
        "last_seen_at",
        "last_form_submission_at",
        "last_tracking_event_at",
        "created_at",
        "updated_at",
        "published_at",
        "archived_at",
        "first_form_view_at",
        "last_form_view_at",
    }
)
_PLUS_TWO = timezone(timedelta(hours=2))
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    b"<body><h1>We'll be right back</h1></body></html>"
)


@dataclass(slots=True)
class Outcome:
    """What to send: `action` is None, "reset", "drop" or "truncate" (send half the body)."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None


def api_key_of(headers: dict[str, str], params: dict[str, Any]) -> str | None:
    """The key from `Authorization: Bearer`, Basic `key:` or an `api_key` parameter."""
    authorization = headers.get("authorization", "").strip()
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return credentials
        if scheme.lower() == "basic" and credentials:
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return decoded.partition(":")[0] or None
    value = params.get("api_key")
    return str(value) if isinstance(value, str | int) and str(value) else None


def authenticate(key: str | None, keys: Collection[str]) -> None:
    """Raise the documented 401/404 unless `key` is one of `keys` (§7.1, §11.1)."""
    if key is not None and key in keys:
        return
    if key is None or len(key) < MIN_KEY_LENGTH:
        raise ApiError(401, "No API key found in headers")
    if not _WELL_FORMED.match(key):
        raise ApiError(401, "API key does not look valid")
    raise ApiError(
        404,
        "API key not valid or does not exist",
        {"message": "API key not valid or does not exist"},
    )


def cache_key(method: str, path: str, params: dict[str, Any]) -> bytes:
    """Normalised request identity for the page cache (api_key excluded)."""
    clean = {k: v for k, v in params.items() if k != "api_key"}
    return (
        method.encode()
        + b" "
        + path.encode()
        + b"?"
        + orjson.dumps(clean, option=orjson.OPT_SORT_KEYS)
    )


def _error(error: ApiError) -> Outcome:
    return Outcome(error.status, orjson.dumps(error.body))


def process(
    store: Store,
    keys: Collection[str],
    method: str,
    path: str,
    params: dict[str, Any],
    headers: dict[str, str],
    decision: Decision | None = None,
) -> Outcome:
    """Answer one API request (path without /v1), applying a fault decision if given."""
    decision = decision or Decision()
    if decision.before in ("reset", "drop"):
        return Outcome(0, action=decision.before)
    if decision.before == "status":
        return Outcome(decision.status, orjson.dumps(decision.body), headers=dict(decision.headers))
    try:
        authenticate(api_key_of(headers, params), keys)
        endpoint = api.ROUTES.get((method, path))
        if endpoint is None:
            if path in api.PATHS:
                raise ApiError(405, "Method not allowed")
            raise ApiError(404, "Not found")
        cacheable_request = method == "GET" and not decision.after
        key = cache_key(method, path, params) if cacheable_request else b""
        if cacheable_request:
            cached = store.pages.get(key)
            if cached is not None:
                return Outcome(200, cached)
        with store.lock:
            reply = endpoint(store, params)
            if not decision.after:
                body = orjson.dumps(reply.body)
                if cacheable_request and reply.cacheable:
                    store.pages.put(key, body)
                return Outcome(reply.status, body, headers=reply.headers)
            return _reshape(reply, decision.after)
    except ApiError as error:
        return _error(error)


# --------------------------------------------------------------------------- body faults
def _reshape(reply: api.Reply, rules: list[Rule]) -> Outcome:
    body = reply.body
    for rule in rules:
        if rule.kind == "html":
            return Outcome(200, HTML_PAGE, content_type=HTML)
        if rule.kind == "malformed":
            raw = orjson.dumps(body)
            return Outcome(200, raw[: max(1, len(raw) // 2)])
        if rule.kind == "truncate":
            return Outcome(reply.status, orjson.dumps(body), action="truncate")
        _RESHAPERS[rule.kind](reply, rule)
    return Outcome(reply.status, orjson.dumps(body), headers=reply.headers)


def _items_missing(reply: api.Reply, rule: Rule) -> None:
    reply.body.pop("items", None)


def _items_not_list(reply: api.Reply, rule: Rule) -> None:
    items = reply.body.get("items")
    if isinstance(items, list):
        reply.body["items"] = {str(index): item for index, item in enumerate(items)}
    else:
        reply.body["items"] = {"items": items}


def _empty_page(reply: api.Reply, rule: Rule) -> None:
    listing = reply.listing
    pagination = reply.body.setdefault("pagination", {})
    cursor = pagination.get("next_page_cursor")
    if cursor is None and listing is not None:
        cursor = listing.incoming_cursor
        if cursor is None and listing.page.records:
            cursor = listing.cursor_for(listing.page.records[-1])
    reply.body["items"] = []
    pagination["next_page_cursor"] = cursor or "ZW1wdHktcGFnZQ"


def _repeat_cursor(reply: api.Reply, rule: Rule) -> None:
    listing = reply.listing
    if listing is not None and listing.incoming_cursor is not None:
        reply.body.setdefault("pagination", {})["next_page_cursor"] = listing.incoming_cursor


def _duplicate_items(reply: api.Reply, rule: Rule) -> None:
    listing = reply.listing
    if listing is None or listing.page.start <= 0 or listing.page.start > len(listing.rows):
        return
    previous = listing.rows[listing.page.start - 1]
    reply.body["items"] = [listing.draw(previous), *reply.body.get("items", [])]


STALE_VALUE = "before the edit"


def _stale_copy(reply: api.Reply, rule: Rule) -> None:
    items = reply.body.get("items")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return
    fresh = items[0]
    name = rule.field or "last_data_reception_at"
    stale = orjson.loads(orjson.dumps(fresh))
    if isinstance(fresh.get(name), str):
        earlier = parse_instant(fresh[name]) - 3600
        stale[name] = iso_z(earlier) if fresh[name].endswith("Z") else plain(earlier)
    for nested in ("data", "attributes"):
        values = stale.get(nested)
        if isinstance(values, dict):
            stale[nested] = {
                key: [STALE_VALUE] * len(value) if isinstance(value, list) else STALE_VALUE
                for key, value in values.items()
            }
    items.insert(0, stale)


def _missing_field(reply: api.Reply, rule: Rule) -> None:
    name = rule.field or "last_data_reception_at"
    items = reply.body.get("items")
    if not isinstance(items, list):
        return
    for item in items[: rule.count] if rule.count is not None else items:
        if isinstance(item, dict):
            item.pop(name, None)


def _restyle(value: str, style: str) -> str:
    text = value.replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if style == "naive":
        return moment.replace(tzinfo=None).isoformat()
    if style == "offset":
        return moment.astimezone(_PLUS_TWO).isoformat()
    return moment.replace(tzinfo=None).isoformat() + "Z"


def _timestamps(reply: api.Reply, rule: Rule) -> None:
    items = reply.body.get("items")
    targets = items if isinstance(items, list) else [reply.body]
    styles = ("naive", "offset", "z")
    for index, item in enumerate(targets):
        if not isinstance(item, dict):
            continue
        style = styles[index % 3] if rule.style == "mixed" else rule.style
        for name, value in item.items():
            if name in TIMESTAMP_KEYS and isinstance(value, str):
                item[name] = _restyle(value, style)


_RESHAPERS: dict[str, Callable[[api.Reply, Rule], None]] = {
    "items_missing": _items_missing,
    "items_not_list": _items_not_list,
    "empty_page": _empty_page,
    "repeat_cursor": _repeat_cursor,
    "duplicate_items": _duplicate_items,
    "stale_copy": _stale_copy,
    "missing_field": _missing_field,
    "timestamps": _timestamps,
}
