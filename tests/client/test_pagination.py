"""Paginators and the page parser, without HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from sources.refiner.errors import ServerError
from sources.refiner.pagination import (
    CursorPaginator,
    Listing,
    MalformedBodyError,
    Page,
    PagePaginator,
    Paginator,
    make_paginator,
    parse_object,
    parse_page,
    scan_page,
)


def page(items: int = 1, **pagination: Any) -> Page:
    return Page(items=[{"uuid": str(i)} for i in range(items)], pagination=pagination, url="u")


def test_cursor_mode_follows_next_page_cursor_until_null() -> None:
    paginator = CursorPaginator()
    assert paginator.first() == {}
    assert paginator.next(page(next_page_cursor="a")) == {"page_cursor": "a"}
    assert paginator.next(page(next_page_cursor="b")) == {"page_cursor": "b"}
    assert paginator.next(page(next_page_cursor=None)) is None


def test_cursor_mode_can_start_at_a_cursor_and_never_revisits_it() -> None:
    paginator = CursorPaginator("start")
    assert paginator.first() == {"page_cursor": "start"}
    with pytest.raises(ServerError, match="sent before"):
        paginator.next(page(next_page_cursor="start"))


def test_repeated_cursor_raises_instead_of_looping() -> None:
    paginator = CursorPaginator()
    paginator.next(page(next_page_cursor="a"))
    paginator.next(page(next_page_cursor="b"))
    with pytest.raises(ServerError, match="sent before"):
        paginator.next(page(next_page_cursor="a"))


def test_empty_page_with_next_cursor_raises() -> None:
    with pytest.raises(ServerError, match="empty page"):
        CursorPaginator().next(page(0, next_page_cursor="a"))


@pytest.mark.parametrize("cursor", ["", 5, ["a"]])
def test_invalid_cursor_raises(cursor: object) -> None:
    with pytest.raises(ServerError, match="invalid next_page_cursor"):
        CursorPaginator().next(page(next_page_cursor=cursor))


def test_cursor_mode_on_an_endpoint_without_cursors_refuses_to_truncate() -> None:
    with pytest.raises(ServerError, match="paging='page'"):
        CursorPaginator().next(page(current_page=1, last_page=3))
    assert CursorPaginator().next(page(current_page=1, last_page=1)) is None


def test_page_mode_counts_to_last_page() -> None:
    paginator = PagePaginator()
    assert paginator.first() == {"page": 1}
    assert paginator.next(page(current_page=1, last_page=3)) == {"page": 2}
    assert paginator.next(page(current_page=2, last_page=3)) == {"page": 3}
    assert paginator.next(page(current_page=3, last_page=3)) is None


def test_page_mode_stops_on_an_empty_last_page() -> None:
    assert PagePaginator().next(page(0, current_page=1, last_page=1)) is None


def test_page_mode_guards() -> None:
    with pytest.raises(ServerError, match="answered page 1 when page 2"):
        paginator = PagePaginator(2)
        paginator.next(page(current_page=1, last_page=3))
    with pytest.raises(ServerError, match="empty page 1 of 3"):
        PagePaginator().next(page(0, current_page=1, last_page=3))
    with pytest.raises(ServerError, match="integer `last_page`"):
        PagePaginator().next(page(current_page=1))


def test_make_paginator() -> None:
    assert isinstance(make_paginator("cursor"), CursorPaginator)
    assert isinstance(make_paginator("page"), PagePaginator)
    assert make_paginator("page", page_cursor="c").first() == {"page_cursor": "c"}
    assert make_paginator("cursor", page=4).first() == {"page": 4}


def test_parse_page() -> None:
    body = orjson.dumps({"items": [{"uuid": "a"}], "pagination": {"next_page_cursor": None}})
    parsed = parse_page(body, url="http://x")
    assert parsed.items == [{"uuid": "a"}]
    assert parsed.pagination == {"next_page_cursor": None}
    assert parsed.url == "http://x"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>Bad gateway</html>", "not JSON"),
        (b'{"items": [{"uuid": "a"}', "not JSON"),
        (b"[]", "not an object"),
        (b'{"pagination": {}}', "`items` is missing"),
        (b'{"items": {"uuid": "a"}, "pagination": {}}', "not a list"),
        (b'{"items": [1, 2], "pagination": {}}', "other than JSON objects"),
        (b'{"items": []}', "`pagination` is missing"),
    ],
)
@pytest.mark.parametrize("parse", [parse_page, scan_page])
def test_malformed_bodies(body: bytes, reason: str, parse: Callable[[bytes], object]) -> None:
    with pytest.raises(MalformedBodyError, match=reason):
        parse(body)


def test_scan_page_reads_pagination_and_count_without_the_items() -> None:
    items = [{"uuid": "a", "data": {"text": '}], "pagination": {'}}, {"uuid": "b"}]
    pagination = {"next_page_cursor": "c2", "items_count": 7}
    body = orjson.dumps({"items": items, "pagination": pagination, "extra": 1})
    assert scan_page(body) == (pagination, 2)
    page = parse_page(body)
    assert (page.pagination, page.item_count) == scan_page(body)


def test_parse_object() -> None:
    assert parse_object(b'{"message": "ok"}') == {"message": "ok"}
    with pytest.raises(MalformedBodyError):
        parse_object(b"")


def test_listing_is_lazy_and_decodes_every_item() -> None:
    served: list[Paginator] = []

    def fetch(paginator: Paginator) -> Any:
        served.append(paginator)
        yield page(2, next_page_cursor="x")
        yield page(1, next_page_cursor=None)

    listing = Listing(fetch, lambda item: item["uuid"], "cursor")
    assert served == []
    assert list(listing) == ["0", "1", "0"]
    assert len(served) == 1
    assert [len(p.items) for p in listing.pages(page_cursor="x")] == [2, 1]
    assert isinstance(served[-1], CursorPaginator)
    assert listing.decode({"uuid": "z"}) == "z"
