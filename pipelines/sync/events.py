"""push-events' plan: one track-event per row key, never sent twice once Refiner accepted it.

The input (one SELECT) needs `event` and `row_key` columns plus an identifier: `identifier`,
`remote_id` or `id` (sent as `id`), else `email`. A row key with a `succeeded` entry in
`refiner_event_log` counts as already sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.errors import ConfigError
from pipelines.sync.mapping import (
    DEFAULT_EMAIL_COLUMN,
    IdentifierType,
    column_index,
    identities,
    texts,
)
from pipelines.sync.send import ContactWriter, SyncReport, split_identifier
from pipelines.sync.state import EventLogEntry, SyncStore
from pipelines.sync.warehouse import ColumnData
from sources.refiner.settings import MAX_TRAIT_STRING_LENGTH

EVENT_ID_COLUMNS = ("identifier", "remote_id", "id")


@dataclass
class PlannedEvent:
    """One (identifier, event, row_key) row to track, or the reason it cannot be sent."""

    row_key: str | None
    identifier_type: IdentifierType
    identifier: str | None
    event: str | None
    reason: str | None = None


@dataclass
class EventPlan:
    """Events to send, invalid rows, and rows already sent in an earlier run."""

    to_send: list[PlannedEvent] = field(default_factory=list)
    invalid: list[PlannedEvent] = field(default_factory=list)
    already_sent: int = 0

    def new_report(self, run_id: str) -> SyncReport:
        """An empty report counting the events already sent as unchanged."""
        return SyncReport(run_id=run_id, unchanged=self.already_sent)

    def send(self, client: ContactWriter, event: PlannedEvent) -> object:
        """track-event for the event's identifier."""
        id_, email = split_identifier(event.identifier_type, event.identifier)
        return client.track_event(event.event or "", id=id_, email=email)

    def log(
        self,
        store: SyncStore,
        run_id: str,
        outcomes: Sequence[tuple[PlannedEvent, str, str | None]],
    ) -> None:
        """Append to refiner_event_log."""
        store.record_events(
            run_id,
            [
                EventLogEntry(e.row_key, e.identifier_type, e.identifier, e.event, status, error)
                for e, status, error in outcomes
            ],
        )

    def label(self, event: PlannedEvent) -> str:
        """`row_key <key>`."""
        return f"row_key {event.row_key or '(none)'}"


def plan_events(
    data: ColumnData,
    sent_keys: set[str],
    *,
    id_column: str | None = None,
    email_column: str | None = None,
) -> EventPlan:
    """Check event rows: `event` and `row_key` columns plus an id or email column are required."""
    position = {name: index for index, name in enumerate(data.names)}
    for required in ("event", "row_key"):
        if required not in position:
            raise ConfigError(f"push-events needs an `{required}` column in --sql.")
    if id_column is None:
        id_column = next((c for c in EVENT_ID_COLUMNS if c in position), None)
    id_index = column_index(position, id_column, "", "--id-column") if id_column else None
    email_index = column_index(position, email_column, DEFAULT_EMAIL_COLUMN, "--email-column")
    if id_index is None and email_index is None:
        raise ConfigError("push-events needs an `identifier`, `remote_id` or `email` column.")
    keys = texts(data, position["row_key"])
    events = texts(data, position["event"])
    seen = Counter(key for key in keys if key is not None)
    plan = EventPlan()
    rows = zip(keys, events, identities(data, id_index, email_index), strict=True)
    for key, event, (kind, value) in rows:
        planned = PlannedEvent(key, kind, value, event)
        if key is None:
            planned.reason = "missing row_key"
        elif seen[key] > 1:
            planned.reason = f"duplicate row_key {key!r} is on {seen[key]} rows"
        elif key in sent_keys:
            plan.already_sent += 1
            continue
        elif value is None:
            planned.reason = "missing identifier (no id or email)"
        elif event is None:
            planned.reason = "missing event name"
        elif len(event) > MAX_TRAIT_STRING_LENGTH:
            planned.reason = f"event name is {len(event)} characters long"
        (plan.invalid if planned.reason else plan.to_send).append(planned)
    return plan
