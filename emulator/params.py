"""Request parameters (§1.3, §11.2): query string, form and JSON bodies, PHP bracket syntax.

`parse_params` merges the query string with the body (body wins) into one dict where `x[]=a`
becomes a list, `x[k]=v` a nested dict, and JSON bodies keep their types.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

from emulator.errors import ApiError

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _assign(target: dict[str, Any], name: str, value: Any) -> None:
    first = name.find("[")
    if first <= 0 or not name.endswith("]"):
        target[name] = value
        return
    parts = [name[:first], *_BRACKETS.findall(name[first:])]
    node: Any = target
    for index, part in enumerate(parts[:-1]):
        following = parts[index + 1]
        child = node.get(part) if isinstance(node, dict) else None
        if following == "":
            if not isinstance(child, list):
                child = []
                node[part] = child
        elif not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node.append(value)
    else:
        node[last] = value


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form/query pairs into a dict with bracket arrays and objects resolved."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        _assign(result, name, value)
    return result


def parse_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Merged parameters of one request; raises ApiError(400) for an unreadable body."""
    params = parse_pairs(parse_qsl(query, keep_blank_values=True))
    if not body.strip():
        return params
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json" or (not kind and body.lstrip()[:1] in (b"{", b"[")):
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise ApiError(400, "Request body is not valid JSON") from error
        if not isinstance(decoded, dict):
            raise ApiError(400, "Request body must be a JSON object")
        params.update(decoded)
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(400, "Request body is not UTF-8") from error
        params.update(parse_pairs(parse_qsl(text, keep_blank_values=True)))
    return params


def get_str(params: dict[str, Any], name: str) -> str | None:
    """A scalar parameter as text; None when absent or empty."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, list | dict):
        raise ApiError(400, f"{name} must be a single value")
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def get_bool(params: dict[str, Any], name: str, default: bool = False) -> bool:
    """1/0/true/false (text or JSON) as a bool."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ApiError(400, f"{name} must be 1 or 0")


def get_int(params: dict[str, Any], name: str, default: int) -> int:
    """An integer parameter; 400 when it is not a whole number."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ApiError(400, f"{name} must be an integer")
    try:
        return int(str(value).strip())
    except ValueError as error:
        raise ApiError(400, f"{name} must be an integer") from error


def get_list(params: dict[str, Any], *names: str) -> list[str]:
    """Union of array parameters: `x[]=` arrays, JSON arrays, comma lists, single values."""
    result: list[str] = []
    for name in names:
        value = params.get(name)
        if value is None or value == "":
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict | list):
                raise ApiError(400, f"{name} must be a list of strings")
            result.extend(part.strip() for part in str(item).split(",") if part.strip())
    return result


def get_dict(params: dict[str, Any], name: str) -> dict[str, Any]:
    """An object parameter (`x[k]=v` or a JSON object); {} when absent."""
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be an object")
    return value
