"""The body of a Refiner webhook (refiner-api.md §8), typed, and its deduplication key.

The top level is the contact; survey triggers add `form` and `response`. Validation is
msgspec's, lenient as Refiner is: unknown keys are ignored, numbers that arrive as strings
(`"show_counter": "2"`) are converted, timestamps such as `2022-10-12T02:05:55.000000Z` are
parsed. Free-form parts (`attributes`, `response.data`) stay as sent; the raw body is what
is stored, byte for byte, and the typed model only decides whether it is accepted.

Deduplication key (`delivery_key`):
- with a response: (`response.uuid`, `triggered_event`, `response.last_data_reception_at`),
  falling back to `last_shown_at` for views that carry no data yet;
- contact-only triggers (segment entries): (`contact uuid`, `triggered_event`, the sorted
  segment uuids, the contact's `last_seen_at`), so entering another segment is a new event
  and a redelivery of the same entry is not.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec

from sources.refiner.models import Account, FormRef, Model, Response, SegmentMembership
from sources.refiner.timestamps import ensure_utc


class PayloadError(ValueError):
    """The body is not JSON or not a Refiner webhook; the message says what is wrong."""


class WebhookResponse(Response):
    """The response part: the API's response object plus `tags`; a view may carry no data."""

    data: dict[str, Any] | None = None  # type: ignore[assignment]
    tags: list[Any] | None = None


class WebhookPayload(Model):
    """A delivery: the contact at the top level, plus the trigger and its survey parts."""

    uuid: str
    triggered_event: str
    project_uuid: str | None = None
    cookie_uuid: str | None = None
    remote_id: str | None = None
    email: str | None = None
    display_name: str | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    attributes: dict[str, Any] | None = None
    segments: list[SegmentMembership] | None = None
    account: Account | None = None
    form: FormRef | None = None
    response: WebhookResponse | None = None


class Delivery(msgspec.Struct, frozen=True):
    """An accepted body: its raw JSON value, its typed view and its deduplication key."""

    raw: dict[str, Any]
    payload: WebhookPayload
    key: str
    delivery_id: str


def parse_body(body: bytes) -> Delivery:
    """Decode and validate one webhook body; raises PayloadError naming the problem."""
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise PayloadError(f"body is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise PayloadError("body is not a JSON object")
    try:
        payload = msgspec.convert(raw, WebhookPayload, strict=False)
    except msgspec.ValidationError as error:
        raise PayloadError(f"not a Refiner webhook: {error}") from None
    key = delivery_key(payload)
    return Delivery(raw, payload, key, hashlib.sha256(key.encode()).hexdigest()[:32])


def delivery_key(payload: WebhookPayload) -> str:
    """The deduplication key (see the module docstring), as compact JSON text."""
    response = payload.response
    if response is not None:
        version = response.last_data_reception_at or response.last_shown_at
        parts: list[Any] = ["response", response.uuid, payload.triggered_event, _iso(version)]
    else:
        segments = sorted(segment.uuid for segment in payload.segments or ())
        parts = ["contact", payload.uuid, payload.triggered_event, segments]
        parts.append(_iso(payload.last_seen_at))
    return msgspec.json.encode(parts).decode()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else ensure_utc(value).isoformat()


def response_item(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The webhook's response as GET /responses returns it (form and contact embedded), so
    the batch reshaping applies unchanged; None for contact-only deliveries."""
    response = raw.get("response")
    if not isinstance(response, dict):
        return None
    contact = {name: raw.get(name) for name in ("uuid", "remote_id", "email", "display_name")}
    contact["account"] = raw.get("account") if isinstance(raw.get("account"), dict) else None
    return {**response, "form": raw.get("form"), "contact": contact}


def contact_item(raw: dict[str, Any]) -> dict[str, Any]:
    """The webhook's contact as GET /contacts returns it. The webhook carries the time of the
    last form submission only among the attributes, where Refiner keeps it."""
    attributes = raw.get("attributes")
    submitted = attributes.get("last_form_submission_at") if isinstance(attributes, dict) else None
    contact = {name: value for name, value in raw.items() if name not in ("form", "response")}
    return {**contact, "last_form_submission_at": submitted if isinstance(submitted, str) else None}
