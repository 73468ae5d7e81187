"""Typed views of Refiner's objects (refiner-api.md §4, §9, §3 responses).

msgspec Structs, decoded leniently: unknown extra fields are ignored, absent optional fields
are None, and every datetime is normalized to timezone-aware UTC after decoding (zone-less
values such as `2024-05-20 17:02:11` are UTC, offsets are converted). Free-form parts
(`attributes`, `data`, `config`, `folder`, report `data`) stay plain dicts.

The dlt source does not use these models; it reads raw pages (`RefinerClient.iter_pages`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from sources.refiner.timestamps import ensure_utc

M = TypeVar("M", bound="Model")


class Model(msgspec.Struct, kw_only=True):
    """Base of every model: datetimes are made UTC-aware after decoding."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                setattr(self, name, ensure_utc(value))


def decode(model: type[M], payload: Any) -> M:
    """Convert a decoded JSON value into `model`; raises msgspec.ValidationError on bad shape."""
    return msgspec.convert(payload, model, strict=False)


def to_builtins(value: Any) -> Any:
    """JSON-ready builtins for a model (datetimes as ISO 8601 UTC strings)."""
    return msgspec.to_builtins(value)


class Account(Model):
    """An account (grouping of contacts). The short form inside a response has no timestamps."""

    uuid: str | None = None
    remote_id: str | None = None
    domain: str | None = None
    display_name: str | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    attributes: dict[str, Any] | None = None


class SegmentMembership(Model):
    """A segment a contact belongs to; `created_at` is when the contact entered it."""

    uuid: str
    name: str | None = None
    created_at: datetime | None = None


class Contact(Model):
    """A contact (user) as returned by GET /contact and GET /contacts."""

    uuid: str
    remote_id: str | None = None
    email: str | None = None
    display_name: str | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    last_form_submission_at: datetime | None = None
    last_tracking_event_at: datetime | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    segments: list[SegmentMembership] = msgspec.field(default_factory=list)
    account: Account | None = None


class FormRef(Model):
    """The survey a response belongs to."""

    uuid: str
    name: str | None = None


class ResponseContact(Model):
    """The contact embedded in a response; `attributes` only with `with_attributes=True`."""

    uuid: str
    remote_id: str | None = None
    email: str | None = None
    display_name: str | None = None
    account: Account | None = None
    attributes: dict[str, Any] | None = None


class Response(Model):
    """A survey view or response (GET /responses). `data` maps question identifiers to answers."""

    uuid: str
    first_shown_at: datetime | None = None
    last_shown_at: datetime | None = None
    show_counter: int | None = None
    first_data_reception_at: datetime | None = None
    last_data_reception_at: datetime | None = None
    completed_at: datetime | None = None
    received_at: datetime | None = None
    dismissed_at: datetime | None = None
    form: FormRef | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    contact: ResponseContact | None = None
    tags: list[Any] | None = None


class Form(Model):
    """A survey (GET /forms). Info fields need `include_info`, `config` needs `include_config`."""

    uuid: str
    name: str | None = None
    channels: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    archived_at: datetime | None = None
    first_form_view_at: datetime | None = None
    last_form_view_at: datetime | None = None
    folder: dict[str, Any] | None = None
    responses_count: int | None = None
    views_count: int | None = None
    page_url: str | None = None
    config: dict[str, Any] | None = None


class FormVersion(Model):
    """One entry of a survey's change log (GET /forms/history)."""

    uuid: str
    action: str | None = None
    snapshot: Any = None
    created_at: datetime | None = None


class Segment(Model):
    """A segment (GET /segments). Only manual segments accept add/remove calls."""

    uuid: str
    name: str | None = None
    is_manual: bool | None = None


class Subscription(Model):
    """Plan and monthly usage: tracked users, tracked events, page views, survey responses."""

    plan: str | None = None
    mtu_count: int | None = None
    mtu_limit: int | None = None
    mtu_count_updated_at: datetime | None = None
    mte_count: int | None = None
    mte_count_updated_at: datetime | None = None
    mpv_count: int | None = None
    mpv_limit: int | None = None
    mpv_count_updated_at: datetime | None = None
    msr_count: int | None = None
    msr_limit: int | None = None
    msr_count_updated_at: datetime | None = None


class Environment(Model):
    """One environment (project) of the account and its monthly usage."""

    uuid: str
    name: str | None = None
    mtu: int | None = None
    mte: int | None = None
    mpv: int | None = None
    msr: int | None = None


class AccountInfo(Model):
    """GET /account: subscription usage and environments."""

    subscription: Subscription = msgspec.field(default_factory=Subscription)
    environments: list[Environment] = msgspec.field(default_factory=list)


class Report(Model):
    """GET /reporting. Which numbers are set depends on `type` (refiner-api.md §4.6).

    nps: nps, count, data (detractors/passives/promoters); csat: csat, count, data;
    ratings: average, sum, count, data; distribution: datapoints, responses, data;
    count: views, responses. `type` is the requested report type.
    """

    type: str | None = None
    nps: float | None = None
    csat: float | None = None
    average: float | None = None
    sum: float | None = None
    count: int | None = None
    datapoints: int | None = None
    views: int | None = None
    responses: int | None = None
    data: dict[str, Any] | None = None
    date_range_start: datetime | None = None
    date_range_end: datetime | None = None


class IdentifyResult(Model):
    """POST /identify-user: the created or updated contact."""

    message: str | None = None
    contact_uuid: str | None = None


class StoreResponseResult(Model):
    """POST /responses: the stored response."""

    message: str | None = None
    uuid: str | None = None


class SegmentSyncResult(Model):
    """POST /sync-segment: the contact added and the segment."""

    message: str | None = None
    contact_uuid: str | None = None
    segment_uuid: str | None = None


class DuplicateFormResult(Model):
    """POST /forms/duplicate: the source survey and the new draft."""

    message: str | None = None
    source_form_uuid: str | None = None
    new_form_uuid: str | None = None
