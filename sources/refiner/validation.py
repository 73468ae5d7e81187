"""Input checks that run before any request, and the encoding of request parameters.

Every check raises `ValidationError` naming the operation, the argument and the fix, so a bad
call never reaches Refiner (and never costs quota).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sources.refiner.errors import ValidationError
from sources.refiner.settings import MAX_PAGE_LENGTH, MAX_TAGS_PER_RESPONSE, MAX_TRAIT_STRING_LENGTH
from sources.refiner.timestamps import format_query_timestamp

TraitValue = str | int | float | bool | date | datetime | None
_TRAIT_TYPES = (str, int, float, bool, date, datetime, type(None))
# Keys of identify-user and store-response bodies that are not traits / answers (§3.2, §3.8).
IDENTIFY_RESERVED_KEYS = frozenset({"id", "email", "account", "attributes", "api_key"})
STORE_RESPONSE_RESERVED_KEYS = frozenset(
    {"id", "email", "uuid", "form_uuid", "date", "prevent_duplicates", "tags", "account", "api_key"}
)


def fail(operation: str, problem: str) -> ValidationError:
    """The error for a call the client refuses to send."""
    return ValidationError(f"{operation}: {problem}")


def require_text(operation: str, name: str, value: Any) -> str:
    """A non-empty string argument."""
    if not isinstance(value, str) or not value.strip():
        raise fail(operation, f"`{name}` is required and must be a non-empty string")
    return value


def optional_text(operation: str, name: str, value: Any) -> str | None:
    """None, or a non-empty string."""
    return None if value is None else require_text(operation, name, value)


def identifiers(operation: str, given: Mapping[str, Any], *, exactly_one: bool) -> dict[str, str]:
    """The non-None identifiers among `given` (e.g. id/email/uuid), checked for count."""
    chosen = {name: require_text(operation, name, v) for name, v in given.items() if v is not None}
    names = ", ".join(f"`{name}`" for name in given)
    if not chosen:
        raise fail(operation, f"pass one of {names} to say which contact (e.g. id='user-42')")
    if exactly_one and len(chosen) > 1:
        raise fail(operation, f"pass exactly one of {names}, not {len(chosen)}")
    return chosen


def choice(operation: str, name: str, value: Any, allowed: Sequence[str]) -> str:
    """A value from a closed vocabulary."""
    if value not in allowed:
        options = ", ".join(allowed)
        missing = "is required" if value is None else f"is {value!r}, which is not allowed"
        raise fail(operation, f"`{name}` {missing}; use one of: {options}")
    return str(value)


def page_length(operation: str, value: Any) -> int:
    """An items-per-page count Refiner accepts (1..1000)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PAGE_LENGTH:
        raise fail(
            operation, f"`page_length` is {value!r}; use an integer from 1 to {MAX_PAGE_LENGTH}"
        )
    return value


def start_page(operation: str, value: Any) -> int | None:
    """None, or a 1-based page number."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise fail(operation, f"`page` is {value!r}; use an integer of 1 or more")
    return value


def text_list(operation: str, name: str, values: Iterable[str] | None) -> list[str] | None:
    """None, or a list of non-empty strings (a bare string is refused, not split)."""
    if values is None:
        return None
    if isinstance(values, str | bytes):
        raise fail(operation, f"`{name}` must be a list of strings, e.g. [{values!r}]")
    return [require_text(operation, f"{name}[]", value) for value in values]


def timestamp(operation: str, name: str, value: str | date | datetime | None) -> str | None:
    """None, or a date-range bound rendered for the query string."""
    if value is None:
        return None
    if not isinstance(value, str | date):
        raise fail(operation, f"`{name}` must be a date, datetime or ISO 8601 string")
    try:
        return format_query_timestamp(value)
    except ValueError:
        raise fail(
            operation,
            f"`{name}` is {value!r}; use an ISO 8601 date or date-time such "
            "as 2024-05-20 or 2024-05-20T17:02:11Z",
        ) from None


def traits(
    operation: str, name: str, values: Mapping[str, Any] | None, *, reserved: frozenset[str]
) -> dict[str, TraitValue]:
    """Trait (or answer) key/values: string keys, strings up to 255 chars, numbers, booleans,
    dates, or None. Keys that the endpoint uses for itself are refused."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise fail(operation, f"`{name}` must be a mapping of names to values")
    checked: dict[str, TraitValue] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key.strip():
            raise fail(operation, f"`{name}` has a key {key!r}; keys must be non-empty strings")
        if key in reserved:
            raise fail(
                operation,
                f"`{name}` cannot contain the key {key!r}; it is reserved "
                f"({', '.join(sorted(reserved))})",
            )
        if not isinstance(value, _TRAIT_TYPES):
            raise fail(
                operation,
                f"`{name}[{key!r}]` is a {type(value).__name__}; use a string, "
                "number, boolean, date or None",
            )
        if isinstance(value, str) and len(value) > MAX_TRAIT_STRING_LENGTH:
            raise fail(
                operation,
                f"`{name}[{key!r}]` is {len(value)} characters long; Refiner "
                f"accepts at most {MAX_TRAIT_STRING_LENGTH}, shorten it",
            )
        checked[key] = value
    return checked


def account(operation: str, value: Mapping[str, Any] | None) -> dict[str, TraitValue] | None:
    """None, or an account object with a non-empty `id` and trait values."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value.get("id"):
        raise fail(
            operation,
            "`account` must be a mapping with a non-empty 'id', "
            "e.g. {'id': 'acme', 'name': 'Acme'}",
        )
    checked = traits(
        operation, "account", {k: v for k, v in value.items() if k != "id"}, reserved=frozenset()
    )
    return {"id": require_text(operation, "account['id']", str(value["id"])), **checked}


def tags(operation: str, values: Iterable[str]) -> list[str]:
    """1 to 20 tag names."""
    names = text_list(operation, "tags", values) or []
    if not 1 <= len(names) <= MAX_TAGS_PER_RESPONSE:
        raise fail(operation, f"`tags` has {len(names)} names; pass 1 to {MAX_TAGS_PER_RESPONSE}")
    return names


def flag(operation: str, name: str, value: Any) -> bool:
    """A real boolean (so that a string such as 'false' is not read as true)."""
    if not isinstance(value, bool):
        raise fail(operation, f"`{name}` must be True or False, not {value!r}")
    return value


def query_params(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Encode parameters for a query string the way Refiner reads them (§1.3).

    None is left out, booleans become 1/0, lists become repeated `name[]=` pairs, dates
    become ISO 8601 text.
    """
    encoded: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            encoded.extend((f"{name}[]", _scalar(item)) for item in value)
        else:
            encoded.append((name, _scalar(value)))
    return tuple(encoded)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, date):
        return format_query_timestamp(value)
    return str(value)
