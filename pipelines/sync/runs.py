"""Reverse-sync runs against a warehouse: prepare a plan read-only, then execute it.

`push-traits` reads one row per contact (the dbt model `contact_traits` by default, or a table,
view or a single SELECT), turns each row into an identify-user payload, and sends only the rows
whose payload differs from the one Refiner last accepted (see `pipelines.sync.state`).
`push-events` reads one SELECT and tracks each row key once. Both prepare on a read-only
connection (so the input query cannot write) and execute through the same `push`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pipelines.config import WarehouseSettings, check_dataset, check_destination
from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET, DEFAULT_DUCKDB_PATH
from pipelines.errors import ConfigError
from pipelines.query.sandbox import validate_select
from pipelines.sync.events import EventPlan, plan_events
from pipelines.sync.input import SyncInput, read_input
from pipelines.sync.mapping import resolve_mapping
from pipelines.sync.plan import NullMode, SyncPlan, plan_traits
from pipelines.sync.send import DEFAULT_WORKERS, ContactWriter, Plan, SyncReport, push
from pipelines.sync.state import SyncStore
from pipelines.sync.warehouse import Warehouse, open_warehouse


@dataclass(frozen=True)
class WarehouseTarget:
    """The warehouse `refiner load` wrote: destination, DuckDB file, the load dataset (where the
    sync tables live too) and the schema dbt builds its models in."""

    destination: str = "duckdb"
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    dataset: str = DEFAULT_DATASET
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA

    @classmethod
    def of(cls, warehouse: WarehouseSettings) -> WarehouseTarget:
        """The target of resolved `[warehouse]` settings (`pipelines.config.resolve_warehouse`)."""
        return cls(
            warehouse.destination,
            str(warehouse.duckdb_path),
            warehouse.dataset,
            warehouse.analytics_schema,
        )

    def open(self, *, read_only: bool) -> Warehouse:
        """Connect; read-only connections run the input query so it cannot write."""
        check_destination(self.destination)
        check_dataset(self.dataset)
        return open_warehouse(self.destination, duckdb_path=self.duckdb_path, read_only=read_only)

    @contextmanager
    def connected(self, *, read_only: bool) -> Iterator[Warehouse]:
        """`open`, closed again when the block ends."""
        warehouse = self.open(read_only=read_only)
        try:
            yield warehouse
        finally:
            warehouse.close()


@dataclass(frozen=True)
class TraitOptions:
    """How input columns become identify-user payloads (see pipelines.sync.plan)."""

    sync_name: str | None = None
    id_column: str | None = None
    email_column: str | None = None
    renames: Mapping[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    account_map: Mapping[str, str] = field(default_factory=dict)
    null_mode: NullMode = "skip"


def prepare_traits(target: WarehouseTarget, source: SyncInput, options: TraitOptions) -> SyncPlan:
    """Read the input and the accepted hashes on a read-only connection and diff them."""
    with target.connected(read_only=True) as warehouse:
        statement, default_name = source.resolve(target.analytics_schema, warehouse)
        data = read_input(warehouse, statement)
        mapping = resolve_mapping(
            data.names,
            id_column=options.id_column,
            email_column=options.email_column,
            renames=options.renames,
            exclude=options.exclude,
            account_map=options.account_map,
        )
        sync_name = options.sync_name or default_name
        accepted = SyncStore(warehouse, target.dataset).accepted_hashes(sync_name)
    return plan_traits(data, mapping, accepted, sync_name=sync_name, null_mode=options.null_mode)


def prepare_events(
    target: WarehouseTarget, sql: str, *, id_column: str | None, email_column: str | None
) -> EventPlan:
    """Run the events query read-only and drop row keys already sent."""
    statement = validate_select(sql, target.destination)
    with target.connected(read_only=True) as warehouse:
        data = read_input(warehouse, statement)
        sent = SyncStore(warehouse, target.dataset).sent_event_keys()
    return plan_events(data, sent, id_column=id_column, email_column=email_column)


def execute(
    target: WarehouseTarget,
    plan: Plan[Any],
    client: ContactWriter,
    *,
    workers: int = DEFAULT_WORKERS,
    secrets: Sequence[str | None] = (),
) -> SyncReport:
    """Send a plan (traits or events) and record its outcomes in the target warehouse."""
    with target.connected(read_only=False) as warehouse:
        store = SyncStore(warehouse, target.dataset)
        return push(plan, client, store, workers=workers, secrets=secrets)


def check_max_changes(changes: int, max_changes: int | None, yes: bool) -> None:
    """Refuse a run that would change more than `max_changes` rows unless confirmed."""
    if max_changes is not None and changes > max_changes and not yes:
        raise ConfigError(
            f"This run would change {changes} rows, more than --max-changes {max_changes}. "
            "Check with --dry-run, then add --yes to proceed."
        )
