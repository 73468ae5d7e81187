"""The reverse sync's own tables in the warehouse: what Refiner accepted, and what happened.

All three live in the load dataset (schema `refiner` by default), so they survive the loss of the
local pipeline folder and can be queried next to the data:

- `refiner_sync_state`, one row per (sync_name, identifier_type, identifier): the hash of the
  canonical identify-user payload Refiner last accepted. Only accepted payloads are stored, so a
  row that failed is sent again on the next run.
- `refiner_sync_log`, append-only, one row per row outcome of each push-traits run: run_id,
  sync_name, identifier_type, identifier, operation (`identify-user`), status (`succeeded`,
  `failed` = rejected or unreachable after retries, `invalid` = never sent), error, payload_hash,
  logged_at.
- `refiner_event_log`, append-only, one row per event outcome of each push-events run: run_id,
  row_key, identifier_type, identifier, event, status, error, logged_at. A row key with a
  `succeeded` entry is never sent again.

No column ever holds the API key; error texts are redacted before they are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines.sync.warehouse import Warehouse, identifier

STATE_TABLE = "refiner_sync_state"
LOG_TABLE = "refiner_sync_log"
EVENT_LOG_TABLE = "refiner_event_log"

STATE_KEY = ("sync_name", "identifier_type", "identifier")
STATE_COLUMNS = (*STATE_KEY, "payload_hash", "run_id", "synced_at")
LOG_COLUMNS = (
    "run_id",
    "sync_name",
    "identifier_type",
    "identifier",
    "operation",
    "status",
    "error",
    "payload_hash",
    "logged_at",
)
EVENT_LOG_COLUMNS = (
    "run_id",
    "row_key",
    "identifier_type",
    "identifier",
    "event",
    "status",
    "error",
    "logged_at",
)

SUCCEEDED = "succeeded"
FAILED = "failed"
INVALID = "invalid"


@dataclass(frozen=True)
class LogEntry:
    """One row outcome. `identifier` may be None for a row that had none."""

    identifier_type: str
    identifier: str | None
    status: str
    error: str | None
    payload_hash: str | None


@dataclass(frozen=True)
class EventLogEntry:
    """One event outcome, keyed by the caller's row key."""

    row_key: str | None
    identifier_type: str
    identifier: str | None
    event: str | None
    status: str
    error: str | None


class SyncStore:
    """Reads and writes the sync tables of one dataset through an open warehouse connection."""

    def __init__(self, warehouse: Warehouse, dataset: str) -> None:
        self.warehouse = warehouse
        self.dataset = identifier(dataset, "dataset")
        self.state = warehouse.qualified(self.dataset, STATE_TABLE)
        self.log = warehouse.qualified(self.dataset, LOG_TABLE)
        self.event_log = warehouse.qualified(self.dataset, EVENT_LOG_TABLE)

    def ensure_tables(self) -> None:
        """Create the schema and the three tables if they do not exist yet."""
        with self.warehouse.transaction():
            self.warehouse.execute(
                f"CREATE SCHEMA IF NOT EXISTS {self.warehouse.qualified(self.dataset)}"
            )
            self.warehouse.execute(
                f"CREATE TABLE IF NOT EXISTS {self.state} ("
                "sync_name TEXT NOT NULL, identifier_type TEXT NOT NULL, identifier TEXT NOT NULL, "
                "payload_hash TEXT NOT NULL, run_id TEXT NOT NULL, synced_at TIMESTAMPTZ NOT NULL, "
                "PRIMARY KEY (sync_name, identifier_type, identifier))"
            )
            self.warehouse.execute(
                f"CREATE TABLE IF NOT EXISTS {self.log} ("
                "run_id TEXT NOT NULL, sync_name TEXT NOT NULL, identifier_type TEXT NOT NULL, "
                "identifier TEXT, operation TEXT NOT NULL, status TEXT NOT NULL, error TEXT, "
                "payload_hash TEXT, logged_at TIMESTAMPTZ NOT NULL)"
            )
            self.warehouse.execute(
                f"CREATE TABLE IF NOT EXISTS {self.event_log} ("
                "run_id TEXT NOT NULL, row_key TEXT, identifier_type TEXT NOT NULL, "
                "identifier TEXT, event TEXT, status TEXT NOT NULL, error TEXT, "
                "logged_at TIMESTAMPTZ NOT NULL)"
            )

    def accepted_hashes(self, sync_name: str) -> dict[tuple[str, str], str]:
        """(identifier_type, identifier) -> hash of the payload Refiner last accepted."""
        if not self.warehouse.table_exists(self.dataset, STATE_TABLE):
            return {}
        _, rows = self.warehouse.query(
            f"SELECT identifier_type, identifier, payload_hash FROM {self.state} "
            "WHERE sync_name = ?",
            (sync_name,),
        )
        return {(kind, value): digest for kind, value, digest in rows}

    def sent_event_keys(self) -> set[str]:
        """Row keys of events Refiner already accepted."""
        if not self.warehouse.table_exists(self.dataset, EVENT_LOG_TABLE):
            return set()
        _, rows = self.warehouse.query(
            f"SELECT DISTINCT row_key FROM {self.event_log} WHERE status = ?", (SUCCEEDED,)
        )
        return {row[0] for row in rows}

    def record(self, run_id: str, sync_name: str, entries: Sequence[LogEntry]) -> None:
        """Append `entries` to the log and store the hashes of succeeded ones, atomically."""
        if not entries:
            return
        now = datetime.now(UTC)
        accepted = [
            (sync_name, e.identifier_type, e.identifier, e.payload_hash, run_id, now)
            for e in entries
            if e.status == SUCCEEDED
        ]
        with self.warehouse.transaction():
            self.warehouse.insert(
                self.log,
                LOG_COLUMNS,
                [
                    (
                        run_id,
                        sync_name,
                        e.identifier_type,
                        e.identifier,
                        "identify-user",
                        e.status,
                        e.error,
                        e.payload_hash,
                        now,
                    )
                    for e in entries
                ],
            )
            self.warehouse.insert(self.state, STATE_COLUMNS, accepted, upsert_on=STATE_KEY)

    def record_events(self, run_id: str, entries: Sequence[EventLogEntry]) -> None:
        """Append event outcomes to the event log in one transaction."""
        if not entries:
            return
        now = datetime.now(UTC)
        with self.warehouse.transaction():
            self.warehouse.insert(
                self.event_log,
                EVENT_LOG_COLUMNS,
                [
                    (
                        run_id,
                        e.row_key,
                        e.identifier_type,
                        e.identifier,
                        e.event,
                        e.status,
                        e.error,
                        now,
                    )
                    for e in entries
                ],
            )
