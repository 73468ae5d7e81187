"""Refiner's ten operations as MCP tool functions, on the project's RefinerClient.

Each public method of `RefinerTools` is one tool: its name, typed parameters (named as the
`refiner tools` CLI options), docstring and return type become the tool's name, input
schema, description and output schema. Lists return one page, `{items, next_cursor,
items_count}`; pass `next_cursor` back as `page_cursor` to read the next page, until it is
null. Every call goes through the client, so its retries, rate budget and redaction apply.
Refiner's errors come back as tool errors with the client's one-line message.

Signatures are read at registration with their annotations evaluated, so the names they use
are imported here at run time, not only for type checking.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

# pydantic reads output schemas from TypedDicts, and on Python 3.11 only from these.
from typing_extensions import TypedDict

from pipelines.mcp.audit import refuse
from sources.refiner.client import RefinerClient
from sources.refiner.errors import RefinerError
from sources.refiner.models import to_builtins
from sources.refiner.pagination import Listing
from sources.refiner.settings import (
    DEFAULT_PAGE_LENGTH,
    MAX_PAGE_LENGTH,
    ContactOrder,
    FormList,
    Include,
    ReportType,
)

TraitValue = str | int | float | bool | None

Id = Annotated[str | None, Field(description="Your user ID for the contact (its remote_id).")]
Email = Annotated[str | None, Field(description="The contact's email.")]
Uuid = Annotated[str | None, Field(description="Refiner's contact UUID.")]
PageLength = Annotated[
    int, Field(ge=1, le=MAX_PAGE_LENGTH, description="Items per page, 1 to 1000.")
]
PageCursor = Annotated[
    str | None,
    Field(description="Leave empty for the first page; then pass the next_cursor of the last."),
]
FormUuid = Annotated[str | None, Field(description="Only this survey (form UUID).")]
SegmentUuid = Annotated[str | None, Field(description="Only this segment (segment UUID).")]
UuidList = Annotated[list[str] | None, Field(description="Only these UUIDs.")]
RangeStart = Annotated[
    str | None,
    Field(description="Inclusive start, ISO 8601 (2024-05-01 or 2024-05-01T10:00:00Z)."),
]
RangeEnd = Annotated[str | None, Field(description="Exclusive end, ISO 8601.")]


class ListPage(TypedDict):
    """One page of a list tool."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    items_count: int | None


class RefinerTools:
    """The ten Refiner tools over one client (thread-safe; tools run on worker threads)."""

    def __init__(self, client: RefinerClient) -> None:
        self._client = client

    def get_account_info(self) -> dict[str, Any]:
        """Plan, monthly usage and environments of the Refiner account.

        Usage counts tracked users (mtu), events (mte), page views (mpv), survey responses (msr).
        """
        with _refiner_errors():
            return _plain(self._client.get_account_info())

    def get_contacts(
        self,
        order_by: Annotated[
            ContactOrder, Field(description="Sort key, newest first.")
        ] = "first_seen_at",
        form_uuid: FormUuid = None,
        segment_uuid: SegmentUuid = None,
        search: Annotated[str | None, Field(description="Match email, user ID or name.")] = None,
        page_length: PageLength = DEFAULT_PAGE_LENGTH,
        page_cursor: PageCursor = None,
    ) -> ListPage:
        """One page of contacts, optionally only those of a survey or segment."""
        with _refiner_errors():
            listing = self._client.get_contacts(
                order_by=order_by,
                form_uuid=form_uuid,
                segment_uuid=segment_uuid,
                search=search,
                page_length=page_length,
            )
            return _cursor_page(listing, page_cursor)

    def get_contact(self, id: Id = None, email: Email = None, uuid: Uuid = None) -> dict[str, Any]:
        """One contact with its attributes, segments and account.

        Give exactly one of id, email or uuid. An unknown contact is a tool error.
        """
        with _refiner_errors():
            return _plain(self._client.get_contact(id=id, email=email, uuid=uuid))

    def update_contact(
        self,
        id: Id = None,
        email: Email = None,
        traits: Annotated[
            dict[str, TraitValue] | None,
            Field(
                description="Traits to set: strings up to 255 characters, numbers, booleans; "
                "null clears. Keys ending in _at are date-times."
            ),
        ] = None,
        account: Annotated[
            dict[str, TraitValue] | None,
            Field(description="Group the contact into an account: id (required), then traits."),
        ] = None,
    ) -> dict[str, Any]:
        """Create or update a contact and its traits, by id and/or email.

        Returns the contact_uuid.
        """
        with _refiner_errors():
            result = self._client.update_contact(id=id, email=email, traits=traits, account=account)
            return _plain(result)

    def delete_contact(
        self,
        id: Id = None,
        email: Email = None,
        uuid: Uuid = None,
        confirm: Annotated[
            bool, Field(description="Must be true: the contact and all its responses go.")
        ] = False,
    ) -> dict[str, Any]:
        """Delete one contact and all of its responses. Cannot be undone.

        Give exactly one of id, email or uuid, and confirm: true.
        """
        if confirm is not True:
            refuse(
                "Refused: delete_contact deletes the contact and all of its responses; "
                "call it again with confirm: true to go ahead"
            )
        with _refiner_errors():
            return self._client.delete_contact(id=id, email=email, uuid=uuid)

    def track_event(
        self,
        event: Annotated[str, Field(min_length=1, description="Event name, e.g. 'Upgraded plan'.")],
        id: Id = None,
        email: Email = None,
    ) -> dict[str, Any]:
        """Record a named event for the contact with this id and/or email."""
        with _refiner_errors():
            return self._client.track_event(event, id=id, email=email)

    def get_forms(
        self,
        list: Annotated[
            FormList,
            Field(
                description="all (not archived), published, drafts, archived, all_with_archived."
            ),
        ] = "all",
        include_info: Annotated[
            bool, Field(description="Add channels, timestamps, counts, folder and page URL.")
        ] = False,
        include_config: Annotated[
            bool, Field(description="Add each survey's full configuration (large).")
        ] = False,
        page_length: PageLength = DEFAULT_PAGE_LENGTH,
        page_cursor: PageCursor = None,
    ) -> ListPage:
        """One page of surveys (forms), by name. Archived surveys need list all_with_archived."""
        page = _form_page_number(page_cursor)
        with _refiner_errors():
            listing = self._client.get_forms(
                list=list,
                include_info=include_info,
                include_config=include_config,
                page_length=page_length,
                paging="page",
            )
            first = next(listing.pages(page=page))
        pagination = first.pagination
        current, last = pagination.get("current_page"), pagination.get("last_page")
        more = isinstance(current, int) and isinstance(last, int) and current < last
        return _list_page(listing, first.items, str(page + 1) if more else None, pagination)

    def get_survey_responses(
        self,
        include: Annotated[
            Include,
            Field(description="completed, partials (any answer) or all (every survey view)."),
        ] = "completed",
        date_range_start: RangeStart = None,
        date_range_end: RangeEnd = None,
        form_uuid: FormUuid = None,
        form_uuids: UuidList = None,
        segment_uuid: SegmentUuid = None,
        segment_uuids: UuidList = None,
        tag_uuid: Annotated[str | None, Field(description="Only this tag (tag UUID).")] = None,
        search: Annotated[
            str | None, Field(description="Contact user ID, UUID, email or name.")
        ] = None,
        with_attributes: Annotated[
            bool, Field(description="Embed every attribute of each contact.")
        ] = False,
        page_length: PageLength = DEFAULT_PAGE_LENGTH,
        page_cursor: PageCursor = None,
    ) -> ListPage:
        """One page of survey responses and views, newest first.

        The date range applies to last_data_reception_at (start inclusive, end exclusive).
        """
        with _refiner_errors():
            listing = self._client.get_responses(
                include=include,
                date_range_start=date_range_start,
                date_range_end=date_range_end,
                form_uuid=form_uuid,
                form_uuids=form_uuids,
                segment_uuid=segment_uuid,
                segment_uuids=segment_uuids,
                tag_uuid=tag_uuid,
                search=search,
                with_attributes=with_attributes,
                page_length=page_length,
            )
            return _cursor_page(listing, page_cursor)

    def get_segments(
        self, page_length: PageLength = DEFAULT_PAGE_LENGTH, page_cursor: PageCursor = None
    ) -> ListPage:
        """One page of segments with uuid, name and is_manual, by name."""
        with _refiner_errors():
            return _cursor_page(self._client.get_segments(page_length=page_length), page_cursor)

    def get_reporting(
        self,
        type: Annotated[ReportType, Field(description="The report: nps, csat, ratings, ...")],
        question_identifiers: Annotated[
            list[str] | None, Field(description="Only these questions.")
        ] = None,
        tag_uuids: UuidList = None,
        form_uuids: UuidList = None,
        segment_uuids: UuidList = None,
        date_range_start: RangeStart = None,
        date_range_end: RangeEnd = None,
    ) -> dict[str, Any]:
        """An aggregated report: NPS, CSAT, ratings, answer distribution or counts.

        Refiner defaults the range to the last 7 days.
        """
        with _refiner_errors():
            report = self._client.get_reporting(
                type,
                question_identifiers=question_identifiers,
                tag_uuids=tag_uuids,
                form_uuids=form_uuids,
                segment_uuids=segment_uuids,
                date_range_start=date_range_start,
                date_range_end=date_range_end,
            )
            return _plain(report)


@contextmanager
def _refiner_errors() -> Iterator[None]:
    """Refiner's errors as tool errors: the client's message is one line, free of the key."""
    try:
        yield
    except RefinerError as error:
        raise ToolError(str(error)) from None


def _plain(value: Any) -> dict[str, Any]:
    plain: dict[str, Any] = to_builtins(value)
    return plain


def _cursor_page(listing: Listing[Any], page_cursor: str | None) -> ListPage:
    first = next(listing.pages(page_cursor=page_cursor or None))
    cursor = first.pagination.get("next_page_cursor")
    return _list_page(
        listing, first.items, cursor if isinstance(cursor, str) else None, first.pagination
    )


def _list_page(
    listing: Listing[Any],
    items: list[dict[str, Any]],
    next_cursor: str | None,
    pagination: dict[str, Any],
) -> ListPage:
    count = pagination.get("items_count")
    return {
        "items": [to_builtins(listing.decode(item)) for item in items],
        "next_cursor": next_cursor,
        "items_count": count if isinstance(count, int) else None,
    }


def _form_page_number(page_cursor: str | None) -> int:
    """Forms page by number; their cursor is the next page's number as text."""
    if not page_cursor:
        return 1
    if not page_cursor.isdigit() or int(page_cursor) < 1:
        raise ToolError(
            f"page_cursor {page_cursor!r} is not a get_forms cursor; pass the next_cursor of "
            "the previous get_forms result, or leave it empty for the first page"
        )
    return int(page_cursor)
