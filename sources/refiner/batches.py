"""Pages to dlt items: Arrow tables of several pages handed over together, child tables with
their parent's cursor.

A child table (contact_attributes, response_answers, ...) goes through dlt's incremental step
with its parent row's cursor column, so parent and child rows are filtered alike; a step right
after the incremental removes that column again. Rows an earlier run loaded unchanged are
dropped before a batch goes out (sources/refiner/unchanged.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import dlt
import pyarrow as pa
from dlt.extract.items_transform import MapItem
from dlt.sources import DltResource

from sources.refiner import schema
from sources.refiner.reshape import ContactTables, ResponseTables
from sources.refiner.unchanged import LoadedRows

BATCH_ROWS = 20_000
"""Parent rows gathered from several pages before they go to dlt as one Arrow table per
table: dlt's per-item work (table schema, writer calls) is then paid per batch, not per page."""


class Batch:
    """The Arrow tables of several pages, one list per table, handed to dlt together.

    Tables other than `parent` (the resource's own table) go out marked with their name;
    child tables carry their parent's cursor column through dlt's incremental step. With
    `loaded`, rows an earlier run loaded unchanged are dropped first.
    """

    def __init__(self, parent: str, loaded: LoadedRows | None = None) -> None:
        self.parent = parent
        self.loaded = loaded
        self.rows = 0
        """Rows of `parent` gathered so far."""
        self._parts: dict[str, list[pa.Table]] = {}

    @property
    def full(self) -> bool:
        """At least BATCH_ROWS parent rows are gathered: time to `drain`."""
        return self.rows >= BATCH_ROWS

    def add(self, name: str, table: pa.Table) -> None:
        self._parts.setdefault(name, []).append(table)
        if name == self.parent:
            self.rows += table.num_rows

    def add_child(
        self, name: str, table: pa.Table, cursor: str, parents: pa.Table, parent_rows: pa.Array
    ) -> None:
        """Add a child table with the `cursor` column of its parent rows (`parent_rows` holds
        each child row's index into `parents`)."""
        self.add(name, table.append_column(cursor, parents[cursor].take(parent_rows)))

    def drain(self) -> Iterator[Any]:
        """One table per name, the parent first, empty ones left out; the batch is empty
        afterwards."""
        parts, self._parts, self.rows = self._parts, {}, 0
        tables = {
            name: pa.concat_tables(part, promote_options="default") for name, part in parts.items()
        }
        if self.loaded is not None and tables:
            tables = self.loaded.drop_loaded(tables)
        for name, table in tables.items():
            if table.num_rows:
                yield table if name == self.parent else dlt.mark.with_table_name(table, name)


def add_contacts(batch: Batch, tables: ContactTables) -> None:
    """A contacts page: its contacts, and their attributes and segments carrying
    `last_seen_at`."""
    contacts = tables.contacts
    batch.add("contacts", contacts)
    batch.add_child(
        "contact_attributes", tables.attributes, "last_seen_at", contacts, tables.attribute_rows
    )
    batch.add_child(
        "contact_segments", tables.segments, "last_seen_at", contacts, tables.segment_rows
    )


def add_responses(batch: Batch, tables: ResponseTables, cursor: str) -> None:
    """A responses page: its responses, and their answers carrying the `cursor` column."""
    batch.add("responses", tables.responses)
    batch.add_child(
        "response_answers", tables.answers, cursor, tables.responses, tables.answer_rows
    )


def nonempty(rows: pa.Table | list[dict[str, Any]]) -> Iterator[Any]:
    """`rows`, unless there are none: an empty item would still cost dlt a load job."""
    if len(rows):
        yield rows


def with_children(resource: DltResource, name: str, cursor_path: str | None) -> DltResource:
    """Declare the resource's extra tables (schema.CHILD_HINTS) as table variants; with a
    cursor, let child tables pass the incremental step on their parent's cursor column."""
    for table_name, hints in schema.CHILD_HINTS.get(name, {}).items():
        # A variant starts as a copy of the resource's hints; its columns must not include the
        # parent's (they would become all-null columns of the child table).
        resource.apply_hints(table_name=table_name, create_table_variant=True, columns={})
        resource.apply_hints(table_name=table_name, create_table_variant=True, **hints)
    if cursor_path is not None:
        dropper = _carried_cursor_dropper(cursor_path, schema.CHILD_HINTS[name])
        resource.add_step(_DropCarriedCursor(dropper))
    return resource.parallelize()


class _DropCarriedCursor(MapItem):
    """Runs right after dlt's incremental step (affinity 1) and before `add_limit` (1.1).

    Child tables travel with their parent's cursor column so the incremental filters parent
    and child rows alike; this step removes that column from them again.
    """

    placement_affinity: ClassVar[float] = 1.05


def _carried_cursor_dropper(cursor_path: str, children: Iterable[str]) -> Callable[..., Any]:
    child_tables = frozenset(children)

    def drop(item: Any, meta: Any = None) -> Any:
        if isinstance(item, pa.Table) and getattr(meta, "table_name", None) in child_tables:
            return item.drop_columns([cursor_path])
        return item

    return drop
