"""Webhooks from the emulator, as Refiner sends them (refiner-api.md §8).

Targets are registered through the admin API (`/_emulator/webhooks`, see `admin`). Once one
is registered, a watcher compares the store with its last snapshot whenever the store's
version changes, and POSTs a Refiner-shaped payload (the contact at the top level, plus
`project_uuid`, `triggered_event`, and for survey triggers `form` and `response`) when:
- a response is completed, or completed again with new data: "Completed Survey";
- a new survey view without data appears: "Saw Survey";
- a contact enters a segment: "User enters segment".
Timestamps are sent as `2022-10-12T02:05:55.000000Z`. The target's token travels as an
`Authorization: Bearer` header (Refiner does not document where it puts it).

Faults (`PUT /_emulator/webhooks/faults`): `duplicate` sends every delivery twice,
`delay_seconds` waits before each batch, `out_of_order` sends each batch newest first, and
`retries` re-sends a delivery that got a non-2xx or no answer, up to that many times.
Imports nothing from `sources/` or `pipelines/`.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from emulator.errors import ApiError
from emulator.store import Store

POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 10.0
RETRY_BACKOFF_SECONDS = 0.2


@dataclass
class WebhookFaults:
    duplicate: bool = False
    delay_seconds: float = 0.0
    out_of_order: bool = False
    retries: int = 0


@dataclass
class Target:
    id: int
    url: str
    token: str | None = field(default=None, repr=False)


class WebhookSender:
    """Registered targets, the store watcher and the delivery log."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.targets: list[Target] = []
        self.faults = WebhookFaults()
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._version: int | None = None
        self._responses: dict[str, tuple[Any, ...]] = {}
        self._segments: dict[str, set[str]] = {}

    def register(self, url: str, token: str | None = None) -> int:
        """Add a target; the first one starts the watcher from the store as it is now."""
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "url must start with http:// or https://")
        with self._lock:
            target = Target(len(self.targets) + 1, url, token)
            self.targets.append(target)
            if self._thread is None:
                self._snapshot(self._store.dump())
                self._thread = threading.Thread(target=self._watch, daemon=True, name="webhooks")
                self._thread.start()
        return target.id

    def clear(self) -> None:
        with self._lock:
            self.targets.clear()
            self.deliveries.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            if self._store.version == self._version:
                continue
            payloads = self._changes(self._store.dump())
            if payloads:
                self._send(payloads)

    def _snapshot(self, dump: dict[str, Any]) -> None:
        self._version = self._store.version
        self._responses = {r["uuid"]: _response_state(r) for r in dump["responses"]}
        self._segments = {c["uuid"]: _segment_uuids(c) for c in dump["contacts"]}

    def _changes(self, dump: dict[str, Any]) -> list[dict[str, Any]]:
        """Payloads for what changed since the last snapshot, oldest first."""
        contacts = {c["uuid"]: c for c in dump["contacts"]}
        project = dump["project_uuid"]
        payloads = []
        for response in dump["responses"]:
            before = self._responses.get(response["uuid"])
            event = _survey_event(before, _response_state(response))
            contact = contacts.get((response.get("contact") or {}).get("uuid", ""))
            if event is not None and contact is not None:
                payloads.append(_payload(project, event, contact, response))
        for uuid, contact in contacts.items():
            if _segment_uuids(contact) - self._segments.get(uuid, set()):
                payloads.append(_payload(project, "User enters segment", contact, None))
        self._snapshot(dump)
        return payloads

    def _send(self, payloads: list[dict[str, Any]]) -> None:
        faults = self.faults
        if faults.delay_seconds:
            time.sleep(faults.delay_seconds)
        ordered = list(reversed(payloads)) if faults.out_of_order else payloads
        copies = 2 if faults.duplicate else 1
        with self._lock:
            targets = list(self.targets)
        for payload in ordered:
            for target in targets:
                for _ in range(copies):
                    self._post(target, payload, faults.retries)

    def _post(self, target: Target, payload: dict[str, Any], retries: int) -> None:
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json", "user-agent": "Refiner-Webhooks"}
        if target.token:
            headers["authorization"] = f"Bearer {target.token}"
        for attempt in range(retries + 1):
            request = urllib.request.Request(target.url, body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            self._log(target, payload, status, attempt)
            if 200 <= status < 300:
                return
            time.sleep(RETRY_BACKOFF_SECONDS * 2**attempt)

    def _log(self, target: Target, payload: dict[str, Any], status: int, attempt: int) -> None:
        response = payload.get("response") or {}
        with self._lock:
            self.deliveries.append(
                {
                    "target": target.id,
                    "triggered_event": payload["triggered_event"],
                    "contact_uuid": payload["uuid"],
                    "response_uuid": response.get("uuid"),
                    "status": status,
                    "attempt": attempt,
                }
            )


def admin(
    sender: WebhookSender, method: str, rest: list[str], params: dict[str, Any]
) -> tuple[int, Any]:
    """`/_emulator/webhooks`: GET targets, faults and deliveries; POST `{url, token}`
    registers a target; DELETE clears; PUT/POST `faults` sets WebhookFaults fields."""
    if not rest and method == "GET":
        return 200, {
            "targets": [{"id": t.id, "url": t.url} for t in sender.targets],
            "faults": asdict(sender.faults),
            "deliveries": list(sender.deliveries),
        }
    if not rest and method == "POST":
        return 200, {"id": sender.register(str(params["url"]), params.get("token"))}
    if not rest and method == "DELETE":
        sender.clear()
        return 200, {"message": "ok"}
    if rest == ["faults"] and method in ("PUT", "POST"):
        known = set(WebhookFaults.__dataclass_fields__)
        unknown = set(params) - known
        if unknown:
            raise ApiError(400, f"unknown webhook faults: {sorted(unknown)}")
        sender.faults = WebhookFaults(**{**asdict(sender.faults), **params})
        return 200, asdict(sender.faults)
    raise ApiError(404, "Unknown admin endpoint")


def _response_state(response: dict[str, Any]) -> tuple[Any, ...]:
    return (response.get("completed_at"), response.get("last_data_reception_at"))


def _survey_event(before: tuple[Any, ...] | None, after: tuple[Any, ...]) -> str | None:
    completed, _ = after
    if completed is not None and before != after:
        return "Completed Survey"
    if before is None:
        return "Saw Survey"
    return None


def _segment_uuids(contact: dict[str, Any]) -> set[str]:
    return {segment["uuid"] for segment in contact.get("segments") or ()}


def _payload(
    project: str, event: str, contact: dict[str, Any], response: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": contact["uuid"],
        "project_uuid": project,
        "cookie_uuid": None,
        **{key: value for key, value in contact.items() if key != "uuid"},
        "triggered_event": event,
    }
    if response is not None:
        body["form"] = response.get("form")
        body["response"] = {
            key: _webhook_time(value) if key.endswith("_at") else value
            for key, value in response.items()
            if key not in ("form", "contact")
        }
    return body


def _webhook_time(value: Any) -> Any:
    """`YYYY-MM-DD HH:MM:SS` (API responses) as webhooks send it: `...T...000000Z`."""
    if isinstance(value, str) and len(value) == 19 and value[10] == " ":
        return f"{value[:10]}T{value[11:]}.000000Z"
    return value
