"""Admin HTTP API under `/_emulator/` (no auth, not logged): the in-process controls over HTTP.

| Method | Path | Does |
| --- | --- | --- |
| GET | /health | `{"ok": true, "base_url", "api_key_count"}` |
| GET, DELETE | /requests | read (`?path=`, `?method=` filters) / clear the request log |
| GET, POST, DELETE | /faults | list / add a rule (`{"kind", ...Rule options}`) / clear all |
| DELETE | /faults/<id> | remove one rule |
| POST, PUT | /faults/settings | switchable settings (`Settings` fields) |
| GET, POST | /clock | read / `{"set": iso}`, `{"advance": seconds}`, `{"resume": true}` |
| GET | /dump | ground truth: every record in API shape |
| GET | /cache | page-cache statistics |
| POST | /prewarm | `{"path", "params", "page_length"}`: pre-render every page |
| POST | /contacts | `Store.upsert_contact(**body)` -> `{"uuid"}` |
| DELETE | /contacts/<uuid> | `Store.delete_contact` (cascade) |
| POST | /responses | `Store.add_response(**body)` -> `{"uuid"}` |
| PATCH, DELETE | /responses/<uuid> | `Store.update_response(uuid, **body)` / `delete_response` |
| POST | /responses/<uuid>/tags | `Store.tag_response(uuid, body["tags"])` |
| POST | /forms | `Store.add_form(**body)` -> `{"uuid"}` |
| PATCH | /forms/<uuid> | `Store.update_form(uuid, **body)` |
| POST | /segments | `Store.add_segment(**body)` -> `{"uuid"}` |
| POST | /segments/<uuid>/contacts | `Store.add_to_segment(uuid, contact_uuid, at)` |
| DELETE | /segments/<uuid>/contacts/<contact> | `Store.remove_from_segment` |
| POST | /events | `Store.track_event(body["contact_uuid"], body["event"], body.get("at"))` |
| GET, POST, DELETE | /webhooks | targets, deliveries / `{"url", "token"}` / clear (webhooks.py) |
| PUT | /webhooks/faults | `{"duplicate", "delay_seconds", "out_of_order", "retries"}` |
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from emulator import webhooks
from emulator.clock import Clock
from emulator.errors import ApiError, not_found
from emulator.server import Backend

Result = tuple[int, Any]
OK: dict[str, Any] = {"message": "ok"}


class Controls(Backend, Protocol):
    """The parts of an `Emulator` the admin API reads and drives: what the API serves, plus
    the clock, the base URL, the webhook sender and the page-cache prewarm."""

    @property
    def clock(self) -> Clock: ...

    @property
    def base_url(self) -> str: ...

    @property
    def webhooks(self) -> webhooks.WebhookSender: ...

    def prewarm(
        self, path: str = ..., params: dict[str, Any] | None = ..., page_length: int = ...
    ) -> int: ...


def handle(emulator: Controls, method: str, path: str, params: dict[str, Any]) -> Result:
    """Run one admin request; unknown uuids answer 404, bad arguments 400."""
    parts = [part for part in path.split("/") if part]
    try:
        return _route(emulator, method, parts, params)
    except KeyError as error:
        raise not_found(f"Record {error.args[0] if error.args else ''}".strip()) from error


def _route(emulator: Controls, method: str, parts: list[str], params: dict[str, Any]) -> Result:
    store = emulator.store
    head = parts[0] if parts else ""
    rest = parts[1:]
    if head == "health" and method == "GET":
        return 200, {
            "ok": True,
            "base_url": emulator.base_url,
            "api_key_count": len(emulator.api_keys),
        }
    if head == "requests":
        return _requests(emulator, method, params)
    if head == "faults":
        return _faults(emulator, method, rest, params)
    if head == "clock":
        return _clock(emulator, method, params)
    if head == "dump" and method == "GET":
        return 200, store.dump()
    if head == "cache" and method == "GET":
        cache = store.pages
        return 200, {
            "entries": len(cache),
            "bytes": cache.size,
            "hits": cache.hits,
            "misses": cache.misses,
        }
    if head == "prewarm" and method == "POST":
        pages = emulator.prewarm(
            str(params.get("path", "/responses")),
            params.get("params") or {},
            page_length=int(params.get("page_length", 1000)),
        )
        return 200, {"pages": pages}
    if head == "contacts":
        if method == "POST" and not rest:
            return 200, {"uuid": store.upsert_contact(**params)}
        if method == "DELETE" and len(rest) == 1:
            store.delete_contact(rest[0])
            return 200, OK
    if head == "responses":
        return _responses(emulator, method, rest, params)
    if head == "forms":
        if method == "POST" and not rest:
            return 200, {"uuid": store.add_form(**params)}
        if method == "PATCH" and len(rest) == 1:
            store.update_form(rest[0], **params)
            return 200, OK
    if head == "segments":
        return _segments(emulator, method, rest, params)
    if head == "webhooks":
        return webhooks.admin(emulator.webhooks, method, rest, params)
    if head == "events" and method == "POST" and not rest:
        uuid = store.track_event(params["contact_uuid"], params["event"], params.get("at"))
        return 200, {"uuid": uuid}
    raise ApiError(404, "Unknown admin endpoint")


def _requests(emulator: Controls, method: str, params: dict[str, Any]) -> Result:
    if method == "DELETE":
        emulator.request_log.clear()
        return 200, OK
    entries = emulator.request_log.filter(params.get("method"), params.get("path"))
    return 200, {"items": [entry.as_json() for entry in entries]}


def _faults(emulator: Controls, method: str, rest: list[str], params: dict[str, Any]) -> Result:
    faults = emulator.faults
    if rest == ["settings"] and method in ("POST", "PUT"):
        return 200, dataclasses.asdict(faults.configure(**params))
    if not rest and method == "GET":
        return 200, {
            "rules": [rule.describe() for rule in faults.rules],
            "settings": dataclasses.asdict(faults.settings),
        }
    if not rest and method == "POST":
        options = dict(params)
        return 200, faults.add(options.pop("kind"), **options).describe()
    if not rest and method == "DELETE":
        faults.clear()
        return 200, OK
    if len(rest) == 1 and method == "DELETE":
        faults.remove(int(rest[0]))
        return 200, OK
    raise ApiError(404, "Unknown admin endpoint")


def _clock(emulator: Controls, method: str, params: dict[str, Any]) -> Result:
    clock = emulator.clock
    if method == "POST":
        if params.get("set") is not None:
            clock.set(params["set"])
        if params.get("advance") is not None:
            clock.advance(float(params["advance"]))
        if params.get("resume"):
            clock.resume()
    return 200, {"now": clock.now().isoformat()}


def _responses(emulator: Controls, method: str, rest: list[str], params: dict[str, Any]) -> Result:
    store = emulator.store
    if method == "POST" and not rest:
        return 200, {"uuid": store.add_response(**params)}
    if method == "PATCH" and len(rest) == 1:
        store.update_response(rest[0], **params)
        return 200, OK
    if method == "DELETE" and len(rest) == 1:
        store.delete_response(rest[0])
        return 200, OK
    if method == "POST" and len(rest) == 2 and rest[1] == "tags":
        return 200, {"tags": store.tag_response(rest[0], params["tags"])}
    raise ApiError(404, "Unknown admin endpoint")


def _segments(emulator: Controls, method: str, rest: list[str], params: dict[str, Any]) -> Result:
    store = emulator.store
    if method == "POST" and not rest:
        return 200, {"uuid": store.add_segment(**params)}
    if method == "POST" and len(rest) == 2 and rest[1] == "contacts":
        store.add_to_segment(rest[0], params["contact_uuid"], params.get("at"))
        return 200, OK
    if method == "DELETE" and len(rest) == 3 and rest[1] == "contacts":
        store.remove_from_segment(rest[0], rest[2])
        return 200, OK
    raise ApiError(404, "Unknown admin endpoint")
