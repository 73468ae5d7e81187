"""`RefinerClient`: one typed method per Refiner API operation.

- Input is validated before anything is sent (`ValidationError`).
- List methods return a lazy `Listing` that pages on its own (cursor mode by default);
  `iter_pages` (raw pages) and `iter_decoded_pages` (each body handed to a decoder) are the
  fast paths the dlt source uses.
- Auth, rate limiting, retries and decoding are the transport's (sources/refiner/transport.py).

One client may be shared by many threads. Creating a client does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import httpx

from sources.refiner import validation as check
from sources.refiner.errors import redact_url
from sources.refiner.models import (
    AccountInfo,
    Contact,
    DuplicateFormResult,
    Form,
    FormVersion,
    IdentifyResult,
    Model,
    Report,
    Response,
    Segment,
    SegmentSyncResult,
    StoreResponseResult,
)
from sources.refiner.pagination import (
    CursorPaginator,
    DecodedPage,
    Listing,
    Page,
    Paginator,
    make_paginator,
)
from sources.refiner.settings import (
    CONTACT_ORDER_VALUES,
    DEFAULT_PAGE_LENGTH,
    FORM_LIST_VALUES,
    INCLUDE_VALUES,
    MAX_PAGE_LENGTH,
    REPORT_TYPES,
    ContactOrder,
    FormList,
    Include,
    Paging,
    ReportType,
)
from sources.refiner.transport import Transport

M = TypeVar("M", bound=Model)
T = TypeVar("T")
DateLike = str | date | datetime
_PAGING_VALUES = ("cursor", "page")


class RefinerClient(Transport):
    """Client for Refiner's REST API v1 (contract: shared/refiner-api.md).

    `api_key` is sent only as a Bearer header. `timeout` bounds each read/write/pool wait in
    seconds (connect is capped at settings.CONNECT_TIMEOUT_SECONDS). `max_attempts` counts
    the first try. `requests_per_minute` configures the client's own limiter unless a shared
    `rate_limiter` is passed. `backoff_initial`/`backoff_max` shape the exponential backoff
    (tests use small values); a `Retry-After` longer than `max_retry_after` is not waited
    out. `retry_budget_seconds`, when set, also stops retrying when the next wait would end
    later than that many seconds after the first attempt. `transport` is for tests and custom
    networking.
    """

    def __repr__(self) -> str:
        return f"RefinerClient(base_url={self.base_url!r}, api_key=***)"

    # --- key probe and account -------------------------------------------------------

    def verify(self) -> dict[str, Any]:
        """GET / : check the key; returns project_uuid, project_name and message."""
        return self._request("GET", "", decode=self._object)

    def get_account_info(self) -> AccountInfo:
        """GET /account: plan, monthly usage and environments."""
        return self._model(AccountInfo, self._request("GET", "account", decode=self._object))

    # --- contacts ----------------------------------------------------------------------

    def get_contacts(
        self,
        *,
        order_by: ContactOrder = "first_seen_at",
        form_uuid: str | None = None,
        segment_uuid: str | None = None,
        search: str | None = None,
        page_length: int = DEFAULT_PAGE_LENGTH,
        paging: Paging = "cursor",
    ) -> Listing[Contact]:
        """GET /contacts: every contact, optionally only those linked to a survey or segment,
        or matching `search` (email, user ID or name)."""
        op = "get_contacts"
        params = {
            "order_by": check.choice(op, "order_by", order_by, CONTACT_ORDER_VALUES),
            "form_uuid": check.optional_text(op, "form_uuid", form_uuid),
            "segment_uuid": check.optional_text(op, "segment_uuid", segment_uuid),
            "search": check.optional_text(op, "search", search),
        }
        return self._listing(op, "contacts", params, Contact, page_length, paging)

    def get_contact(
        self, *, id: str | None = None, email: str | None = None, uuid: str | None = None
    ) -> Contact:
        """GET /contact: one contact by exactly one of `id`, `email` or `uuid`.
        Raises NotFoundError when it does not exist."""
        params = check.identifiers(
            "get_contact", {"id": id, "email": email, "uuid": uuid}, exactly_one=True
        )
        return self._model(
            Contact, self._request("GET", "contact", params=params, decode=self._object)
        )

    def update_contact(
        self,
        *,
        id: str | None = None,
        email: str | None = None,
        traits: Mapping[str, Any] | None = None,
        account: Mapping[str, Any] | None = None,
    ) -> IdentifyResult:
        """POST /identify-user: create or update a contact by `id` and/or `email`.

        `traits` become flat top-level keys (strings up to 255 chars, numbers, booleans,
        dates; keys ending in `_at` are read as date-times). `account` groups the contact
        into an account and needs an `id`; its other keys are account traits.
        """
        op = "update_contact"
        body: dict[str, Any] = {
            **check.identifiers(op, {"id": id, "email": email}, exactly_one=False),
            **check.traits(op, "traits", traits, reserved=check.IDENTIFY_RESERVED_KEYS),
        }
        grouped = check.account(op, account)
        if grouped is not None:
            body["account"] = grouped
        return self._model(
            IdentifyResult, self._request("POST", "identify-user", body=body, decode=self._object)
        )

    def delete_contact(
        self, *, id: str | None = None, email: str | None = None, uuid: str | None = None
    ) -> dict[str, Any]:
        """DELETE /contact: delete one contact and all of its responses."""
        params = check.identifiers(
            "delete_contact", {"id": id, "email": email, "uuid": uuid}, exactly_one=True
        )
        return self._request("DELETE", "contact", params=params, decode=self._object)

    def track_event(
        self, event: str, *, id: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        """POST /track-event: record the named `event` for the user with `id` and/or `email`."""
        op = "track_event"
        body = {
            "event": check.require_text(op, "event", event),
            **check.identifiers(op, {"id": id, "email": email}, exactly_one=False),
        }
        return self._request("POST", "track-event", body=body, decode=self._object)

    # --- forms -------------------------------------------------------------------------

    def get_forms(
        self,
        *,
        list: FormList = "all",
        include_info: bool = False,
        include_config: bool = False,
        page_length: int = DEFAULT_PAGE_LENGTH,
        paging: Paging = "page",
    ) -> Listing[Form]:
        """GET /forms: surveys in the `list` state (all = not archived); `include_info` adds
        timestamps, counts and folder; `include_config` adds the full configuration."""
        op = "get_forms"
        params = {
            "list": check.choice(op, "list", list, FORM_LIST_VALUES),
            "include_info": check.flag(op, "include_info", include_info),
            "include_config": check.flag(op, "include_config", include_config),
        }
        return self._listing(op, "forms", params, Form, page_length, paging)

    def get_form_history(
        self, form_uuid: str, *, page_length: int = DEFAULT_PAGE_LENGTH, paging: Paging = "page"
    ) -> Listing[FormVersion]:
        """GET /forms/history: the change log (versions) of one survey."""
        op = "get_form_history"
        params = {"form_uuid": check.require_text(op, "form_uuid", form_uuid)}
        return self._listing(op, "forms/history", params, FormVersion, page_length, paging)

    def publish_form(self, form_uuid: str, *, published: bool = True) -> dict[str, Any]:
        """POST /forms/publish: publish a survey, or unpublish it with `published=False`."""
        op = "publish_form"
        body = {
            "form_uuid": check.require_text(op, "form_uuid", form_uuid),
            "published": int(check.flag(op, "published", published)),
        }
        return self._request("POST", "forms/publish", body=body, decode=self._object)

    def duplicate_form(self, form_uuid: str, name: str) -> DuplicateFormResult:
        """POST /forms/duplicate: copy a survey into a new draft called `name`."""
        op = "duplicate_form"
        body = {
            "form_uuid": check.require_text(op, "form_uuid", form_uuid),
            "name": check.require_text(op, "name", name),
        }
        return self._model(
            DuplicateFormResult,
            self._request("POST", "forms/duplicate", body=body, decode=self._object),
        )

    def archive_form(self, form_uuid: str) -> dict[str, Any]:
        """DELETE /forms: archive a survey (Refiner does not hard-delete surveys)."""
        params = {"form_uuid": check.require_text("archive_form", "form_uuid", form_uuid)}
        return self._request("DELETE", "forms", params=params, decode=self._object)

    # --- responses ---------------------------------------------------------------------

    def get_responses(
        self,
        *,
        include: Include = "completed",
        date_range_start: DateLike | None = None,
        date_range_end: DateLike | None = None,
        form_uuid: str | None = None,
        form_uuids: Iterable[str] | None = None,
        segment_uuid: str | None = None,
        segment_uuids: Iterable[str] | None = None,
        tag_uuid: str | None = None,
        search: str | None = None,
        with_attributes: bool = False,
        page_length: int = DEFAULT_PAGE_LENGTH,
        paging: Paging = "cursor",
    ) -> Listing[Response]:
        """GET /responses, newest first. `include`: completed, partials (any data) or all
        views. The date range (start inclusive, end exclusive) applies to
        `last_data_reception_at`. `with_attributes` embeds every contact attribute."""
        op = "get_responses"
        params = {
            "include": check.choice(op, "include", include, INCLUDE_VALUES),
            "date_range_start": check.timestamp(op, "date_range_start", date_range_start),
            "date_range_end": check.timestamp(op, "date_range_end", date_range_end),
            "form_uuid": check.optional_text(op, "form_uuid", form_uuid),
            "form_uuids": check.text_list(op, "form_uuids", form_uuids),
            "segment_uuid": check.optional_text(op, "segment_uuid", segment_uuid),
            "segment_uuids": check.text_list(op, "segment_uuids", segment_uuids),
            "tag_uuid": check.optional_text(op, "tag_uuid", tag_uuid),
            "search": check.optional_text(op, "search", search),
            "with_attributes": check.flag(op, "with_attributes", with_attributes),
        }
        return self._listing(op, "responses", params, Response, page_length, paging)

    def store_response(
        self,
        form_uuid: str,
        data: Mapping[str, Any],
        *,
        id: str | None = None,
        email: str | None = None,
        uuid: str | None = None,
        date: DateLike | None = None,
        prevent_duplicates: bool = True,
        tags: Iterable[str] | None = None,
        account: Mapping[str, Any] | None = None,
    ) -> StoreResponseResult:
        """POST /responses: store answers (`data`: question identifier -> answer) for the
        user with `id`, `email` or `uuid`, on an existing survey."""
        op = "store_response"
        answers = check.traits(op, "data", data, reserved=check.STORE_RESPONSE_RESERVED_KEYS)
        if not answers:
            raise check.fail(op, "`data` is empty; pass at least one question_identifier: answer")
        body: dict[str, Any] = {
            "form_uuid": check.require_text(op, "form_uuid", form_uuid),
            **check.identifiers(op, {"id": id, "email": email, "uuid": uuid}, exactly_one=True),
            **answers,
            "date": check.timestamp(op, "date", date),
            "prevent_duplicates": int(check.flag(op, "prevent_duplicates", prevent_duplicates)),
        }
        if tags is not None:
            body["tags"] = check.tags(op, tags)
        grouped = check.account(op, account)
        if grouped is not None:
            body["account"] = grouped
        return self._model(
            StoreResponseResult, self._request("POST", "responses", body=body, decode=self._object)
        )

    def tag_response(self, uuid: str, tags: Iterable[str]) -> dict[str, Any]:
        """POST /responses/tags: add 1 to 20 tag names to a response (existing tags stay)."""
        op = "tag_response"
        body = {"uuid": check.require_text(op, "uuid", uuid), "tags": check.tags(op, tags)}
        return self._request("POST", "responses/tags", body=body, decode=self._object)

    # --- segments ----------------------------------------------------------------------

    def get_segments(
        self, *, page_length: int = DEFAULT_PAGE_LENGTH, paging: Paging = "cursor"
    ) -> Listing[Segment]:
        """GET /segments: every segment, by name."""
        return self._listing("get_segments", "segments", {}, Segment, page_length, paging)

    def add_to_segment(
        self, segment_uuid: str, *, id: str | None = None, email: str | None = None
    ) -> SegmentSyncResult:
        """POST /sync-segment: add the user with `id` or `email` to a manual segment
        (Refiner creates the user when none matches)."""
        op = "add_to_segment"
        body = {
            "segment_uuid": check.require_text(op, "segment_uuid", segment_uuid),
            **check.identifiers(op, {"id": id, "email": email}, exactly_one=True),
        }
        return self._model(
            SegmentSyncResult, self._request("POST", "sync-segment", body=body, decode=self._object)
        )

    def remove_from_segment(
        self, segment_uuid: str, *, id: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        """DELETE /sync-segment: remove the user with `id` or `email` from a manual segment."""
        op = "remove_from_segment"
        params = {
            "segment_uuid": check.require_text(op, "segment_uuid", segment_uuid),
            **check.identifiers(op, {"id": id, "email": email}, exactly_one=True),
        }
        return self._request("DELETE", "sync-segment", params=params, decode=self._object)

    # --- reporting ---------------------------------------------------------------------

    def get_reporting(
        self,
        type: ReportType,
        *,
        question_identifiers: Iterable[str] | None = None,
        tag_uuids: Iterable[str] | None = None,
        form_uuids: Iterable[str] | None = None,
        segment_uuids: Iterable[str] | None = None,
        date_range_start: DateLike | None = None,
        date_range_end: DateLike | None = None,
    ) -> Report:
        """GET /reporting: an aggregated report of `type` (nps, csat, ratings, distribution,
        count). Refiner defaults the range to the last 7 days up to the end of today."""
        op = "get_reporting"
        report_type = check.choice(op, "type", type, REPORT_TYPES)
        params = {
            "type": report_type,
            "question_identifiers": check.text_list(
                op, "question_identifiers", question_identifiers
            ),
            "tag_uuids": check.text_list(op, "tag_uuids", tag_uuids),
            "form_uuids": check.text_list(op, "form_uuids", form_uuids),
            "segment_uuids": check.text_list(op, "segment_uuids", segment_uuids),
            "date_range_start": check.timestamp(op, "date_range_start", date_range_start),
            "date_range_end": check.timestamp(op, "date_range_end", date_range_end),
        }
        payload = self._request("GET", "reporting", params=params, decode=self._object)
        return self._model(Report, {**payload, "type": report_type})

    # --- raw paging --------------------------------------------------------------------

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_length: int = MAX_PAGE_LENGTH,
        paging: Paging = "cursor",
        page: int | None = None,
        page_cursor: str | None = None,
    ) -> Iterator[Page]:
        """Raw pages of a list endpoint (`path` relative to the base URL, e.g. "responses").

        Items stay dicts exactly as Refiner sent them (parsed with orjson). `params` are
        encoded as for every GET (booleans 1/0, lists as `name[]`). Start from `page` or
        `page_cursor` to resume. Raises ServerError instead of looping on an inconsistent
        server (empty page with a next cursor, a repeated cursor).
        """
        op = "iter_pages"
        check.page_length(op, page_length)
        check.choice(op, "paging", paging, _PAGING_VALUES)
        check.start_page(op, page)
        paginator = make_paginator(
            paging, page=page, page_cursor=check.optional_text(op, "page_cursor", page_cursor)
        )
        return self._walk(path.strip("/"), dict(params or {}), page_length, paginator, self._page)

    def iter_decoded_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        decode: Callable[[bytes], tuple[T, dict[str, Any], int]],
        *,
        page_length: int = MAX_PAGE_LENGTH,
    ) -> Iterator[DecodedPage[T]]:
        """Cursor pages of a list endpoint, each body turned into a value by `decode`.

        `decode(body)` returns `(value, pagination, item_count)` and raises MalformedBodyError
        for a body that is not the list envelope, which is retried like a malformed page of
        `iter_pages`. Everything else (parameters, retries, loop guards) is as `iter_pages`.
        """
        op = "iter_decoded_pages"
        check.page_length(op, page_length)

        def decode_page(response: httpx.Response) -> DecodedPage[T]:
            value, pagination, item_count = decode(response.content)
            return DecodedPage(value, pagination, item_count, redact_url(response.request.url))

        return self._walk(
            path.strip("/"), dict(params or {}), page_length, CursorPaginator(), decode_page
        )

    def _listing(
        self,
        op: str,
        path: str,
        params: dict[str, Any],
        model: type[M],
        page_length: int,
        paging: Paging,
    ) -> Listing[M]:
        check.page_length(op, page_length)
        check.choice(op, "paging", paging, _PAGING_VALUES)

        def fetch(paginator: Paginator) -> Iterator[Page]:
            return self._walk(path, params, page_length, paginator, self._page)

        return Listing(fetch, lambda item: self._model(model, item), paging)
