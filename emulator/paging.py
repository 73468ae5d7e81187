"""Pagination (§5, §11.4): page mode and keyset cursor mode over a sorted record list.

A cursor encodes the sort key of the last item served, so inserts and deletes while a client
pages never shift or repeat the remaining rows. If `page_cursor` is given it wins over `page`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from emulator.errors import ApiError
from emulator.params import get_int, get_str

DEFAULT_PAGE_LENGTH = 50
MAX_PAGE_LENGTH = 1000

T = TypeVar("T")
Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What the client asked for: `cursor` (decoded sort key) wins over `page`."""

    page_length: int
    page: int
    cursor: Key | None


@dataclass(slots=True)
class PageResult:
    """One page: the records plus the `pagination` object to send."""

    records: list[Any]
    pagination: dict[str, Any]
    start: int


def encode_cursor(tag: str, key: Key) -> str:
    """Opaque cursor text for a sort key."""
    raw = orjson.dumps([tag, *key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(tag: str, text: str) -> Key:
    """The sort key inside a cursor made by `encode_cursor(tag, ...)`; 400 if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        decoded = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError) as error:
        raise ApiError(400, "Invalid page_cursor") from error
    if not isinstance(decoded, list) or not decoded or decoded[0] != tag:
        raise ApiError(400, "Invalid page_cursor")
    return tuple(decoded[1:])


def page_request(params: dict[str, Any], tag: str) -> PageRequest:
    """Parse page_length (default 50, clamped to 1..1000), page and page_cursor."""
    length = min(max(get_int(params, "page_length", DEFAULT_PAGE_LENGTH), 1), MAX_PAGE_LENGTH)
    page = max(get_int(params, "page", 1), 1)
    cursor_text = get_str(params, "page_cursor")
    cursor = decode_cursor(tag, cursor_text) if cursor_text else None
    return PageRequest(length, page, cursor)


def first_index(records: Sequence[T], predicate: Callable[[T], bool]) -> int:
    """Smallest index whose record satisfies a predicate that is monotone (False..., True...)."""
    low, high = 0, len(records)
    while low < high:
        middle = (low + high) // 2
        if predicate(records[middle]):
            high = middle
        else:
            low = middle + 1
    return low


def paginate(
    records: Sequence[T],
    request: PageRequest,
    *,
    tag: str,
    key: Callable[[T], Key],
    descending: bool,
    with_cursor: bool = True,
) -> PageResult:
    """Cut one page from `records` (already sorted by `key`, descending or not)."""
    total = len(records)
    length = request.page_length
    if request.cursor is not None:
        cursor = request.cursor
        try:
            if descending:
                start = first_index(records, lambda record: key(record) < cursor)
            else:
                start = first_index(records, lambda record: key(record) > cursor)
        except TypeError as error:
            raise ApiError(400, "Invalid page_cursor") from error
    else:
        start = (request.page - 1) * length
    chunk = list(records[start : start + length])
    pagination: dict[str, Any] = {
        "items_count": total,
        "current_page": start // length + 1,
        "last_page": max(1, -(-total // length)),
        "page_length": length,
    }
    if with_cursor:
        more = start + length < total and bool(chunk)
        pagination["next_page_cursor"] = encode_cursor(tag, key(chunk[-1])) if more else None
    return PageResult(chunk, pagination, start)
