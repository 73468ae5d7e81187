"""Building records for the store: UUIDs, questions, a response's timestamps by state, per-form
counts, and read-only views of a record table in API shape."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from emulator.models import Account, Contact, Question, Response
from emulator.timefmt import parse_optional

RESPONSE_STATES = ("completed", "partial", "dismissed", "seen")
TIMESTAMP_FIELDS = (
    "first_shown_at",
    "last_shown_at",
    "first_data_reception_at",
    "last_data_reception_at",
    "completed_at",
    "received_at",
    "dismissed_at",
)
"""A response's timestamp fields, in API order."""

FormStats = tuple[int, int, int | None, int | None]
"""(responses_count, views_count, first_form_view_at, last_form_view_at)."""


def make_uuid(rng: random.Random) -> str:
    """A v1-looking UUID (`xxxxxxxx-xxxx-11ee-8xxx-xxxxxxxxxxxx`) from `rng`."""
    bits = f"{rng.getrandbits(104):026x}"
    return f"{bits[:8]}-{bits[8:12]}-11ee-8{bits[12:15]}-{bits[15:26]}0"


def question(spec: Question | Mapping[str, Any]) -> Question:
    """A form element from a Question or a `{id, type, question, options, required}` dict."""
    if isinstance(spec, Question):
        return spec
    options = spec.get("options")
    return Question(
        id=str(spec["id"]),
        type=str(spec.get("type", "text")),
        question=str(spec.get("question", spec["id"])),
        options=tuple(options) if options is not None else None,
        required=bool(spec.get("required", False)),
    )


def new_account(uuid: str, remote_id: str, now: int) -> Account:
    """An account first seen `now`, without a name, domain or traits."""
    return Account(
        uuid=uuid,
        remote_id=remote_id,
        display_name=None,
        domain=None,
        first_seen_at=now,
        last_seen_at=now,
        attributes={},
    )


def apply_account_spec(account: Account, spec: Mapping[str, Any]) -> None:
    """Set an account's name, domain and traits from an identify-user `account` object."""
    for key, value in spec.items():
        if key in ("id", "remote_id"):
            continue
        if key in ("name", "display_name"):
            account.display_name = None if value is None else str(value)
        elif key == "domain":
            account.domain = None if value is None else str(value)
        else:
            account.attributes[key] = value


def new_contact(
    uuid: str, remote_id: str | None, email: str | None, first_seen_at: int, now: int
) -> Contact:
    """A contact seen `now`, without traits, account, segments or responses."""
    return Contact(
        uuid=uuid,
        remote_id=remote_id,
        email=email,
        display_name=None,
        first_seen_at=first_seen_at,
        last_seen_at=now,
        last_form_submission_at=None,
        last_tracking_event_at=None,
        traits={},
        account=None,
        segments={},
        responses=[],
    )


def check_response_fields(state: str, timestamps: Iterable[str]) -> None:
    """ValueError for an unknown state, TypeError for an unknown timestamp field."""
    if state not in RESPONSE_STATES:
        raise ValueError(f"state must be one of {RESPONSE_STATES}")
    check_timestamp_fields(timestamps)


def check_timestamp_fields(names: Iterable[str]) -> None:
    """TypeError for a name that is not a response timestamp field."""
    unknown = set(names) - set(TIMESTAMP_FIELDS)
    if unknown:
        raise TypeError(f"unknown response fields: {sorted(unknown)}")


def response_timestamps(
    state: str, when: int, overrides: Mapping[str, Any]
) -> dict[str, int | None]:
    """A new response's timestamps: shown at `when`, with data, completion or dismissal at
    `when` as its `state` implies, then `overrides` (None allowed) on top."""
    values: dict[str, int | None] = dict.fromkeys(TIMESTAMP_FIELDS)
    values["first_shown_at"] = values["last_shown_at"] = when
    if state in ("completed", "partial"):
        values["first_data_reception_at"] = values["last_data_reception_at"] = when
        values["received_at"] = when
    if state == "completed":
        values["completed_at"] = when
    if state == "dismissed":
        values["dismissed_at"] = when
    values.update({name: parse_optional(value) for name, value in overrides.items()})
    return values


def form_stats(responses: Iterable[Response]) -> dict[str, FormStats]:
    """FormStats per form uuid, over every response (views included)."""
    stats: dict[str, list[Any]] = {}
    for response in responses:
        entry = stats.get(response.form.uuid)
        if entry is None:
            entry = [0, 0, response.first_shown_at, response.last_shown_at]
            stats[response.form.uuid] = entry
        entry[1] += 1
        if response.completed_at is not None:
            entry[0] += 1
        entry[2] = min(entry[2], response.first_shown_at)
        entry[3] = max(entry[3], response.last_shown_at)
    return {uuid: (e[0], e[1], e[2], e[3]) for uuid, e in stats.items()}


class RecordView(Mapping[str, dict[str, Any]]):
    """Read-only mapping uuid -> rendered API object over one record table."""

    def __init__(
        self,
        lock: threading.RLock,
        table: Callable[[], dict[str, Any]],
        draw: Callable[[Any], dict[str, Any]],
    ) -> None:
        self._lock = lock
        self._table = table
        self._draw = draw

    def __getitem__(self, key: str) -> dict[str, Any]:
        with self._lock:
            return self._draw(self._table()[key])

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._table()))

    def __len__(self) -> int:
        return len(self._table())
