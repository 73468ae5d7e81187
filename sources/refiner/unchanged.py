"""Skip rows that an earlier run already loaded unchanged.

Each incremental run reads the lookback window (cursor - `lookback_hours`) again, to catch late
records, and every run re-reads forms, segments and reporting's re-fetch days. Most of those rows
were loaded before and have not changed. Merging them again costs load time and rewrites
warehouse rows for nothing. `LoadedRows` keeps, in the resource's dlt state, a fingerprint of
every row it may meet again. dlt commits that state in the same load as the rows it describes,
so it never runs ahead of the warehouse. A row whose fingerprint matches is dropped, together with
its child rows.

A fingerprint covers every column of the parent row and all of its child rows, except child
tables built from the parent row alone (a contact's attributes come from its `attributes`
column), which the parent's columns already cover. Any change, even one that leaves the cursor
where it was, gives a new fingerprint, so the row is loaded.
Fingerprints are remembered per key: a row that changes and then changes back is compared with
the version loaded last, never with an older one.
"""

from __future__ import annotations

import base64
import hashlib
from array import array
from collections import defaultdict
from collections.abc import Collection, Mapping, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.compute as pc

STATE_KEY: Final = "loaded_rows"
"""Key of the fingerprints in the resource state."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_PACKED: Final = ("keys", "fingerprints", "cursors")
"""State fields: base64 int64 arrays of key digests, row fingerprints and cursors (in
microseconds since the epoch; 0 without a cursor)."""


class LoadedRows:
    """Fingerprints of one resource's rows that a later run may read again.

    `parent` is the resource's table and `key` its primary key columns. `children` maps each
    child table to the column that holds its parent's key (a single-column key); the child
    tables in `derived` are built from their parent row alone, so they are dropped with it
    but not fingerprinted.

    With a `cursor` and a `lag` (an incremental resource), the rows remembered are those whose
    cursor lies within `lag` of the newest cursor seen so far: the rows the next lookback
    reads again. Without a cursor (a resource read whole, or a fixed re-fetch window), the
    rows remembered are exactly those this run read.

    Call `drop_loaded` on each batch before it goes to dlt, then `save` once the resource has
    read everything; a run that fails before `save` leaves the state as it was.
    """

    def __init__(
        self,
        state: MutableMapping[str, Any],
        *,
        parent: str,
        key: tuple[str, ...],
        cursor: str | None = None,
        lag: timedelta = timedelta(0),
        children: Mapping[str, str] | None = None,
        derived: Collection[str] = (),
    ) -> None:
        self._state = state
        self._parent = parent
        self._key = key
        self._cursor = cursor
        self._lag = lag
        self._children = dict(children or {})
        self._fingerprinted = {
            name: column for name, column in self._children.items() if name not in derived
        }
        saved = state.get(STATE_KEY) or {}
        self._known = _unpack(saved)
        self._newest: int | None = saved.get("newest")
        self._oldest_known = min((moment for _, moment in self._known.values()), default=None)
        self._seen: dict[int, tuple[int, int]] = {}
        self._conflicts: set[int] = set()
        """Keys read twice in this run with different content (a record edited while the run
        read it): never dropped, and not remembered, so the next run loads them again."""

    def drop_loaded(self, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        """`tables` (the parent and its children, by name) without the rows loaded before.
        The parent's key must be a single column."""
        (key,) = self._key
        parent = tables[self._parent]
        candidates = self._candidates(parent)
        if candidates.num_rows == 0:
            return tables
        children = [
            _grouped(tables[name], column, candidates[key])
            for name, column in self._fingerprinted.items()
            if name in tables
        ]
        unchanged: list[Any] = []
        changed: set[Any] = set()
        for row in candidates.to_pylist():
            content = [row, *(_sorted(groups.get(row[key], ())) for groups in children)]
            moment = _micros(row[self._cursor]) if self._cursor else 0
            if self._loaded_before((row[key],), content, moment):
                unchanged.append(row[key])
            else:
                changed.add(row[key])
        dropped = pa.array([value for value in unchanged if value not in changed])
        if len(dropped) == 0:
            return tables
        kept = dict(tables)
        for name, table in tables.items():
            column = key if name == self._parent else self._children.get(name)
            if column is not None:
                kept[name] = table.filter(pc.invert(pc.is_in(table[column], value_set=dropped)))
        return kept

    def drop_loaded_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`rows` (plain records of a resource without a cursor) without those loaded before."""
        return [
            row
            for row in rows
            if not self._loaded_before(tuple(row[column] for column in self._key), row, 0)
        ]

    def save(self) -> None:
        """Write the fingerprints the next run needs into the resource state."""
        entries = self._seen
        if self._cursor is not None:
            entries = {**self._known, **self._seen}
            if self._newest is not None:
                floor = self._newest - _micros_of(self._lag)
                entries = {k: v for k, v in entries.items() if v[1] >= floor}
        entries = {k: v for k, v in entries.items() if k not in self._conflicts}
        self._state[STATE_KEY] = {"newest": self._newest, **_pack(entries)}

    def _loaded_before(self, key: tuple[Any, ...], content: Any, moment: int) -> bool:
        """Whether the last loaded version of `key` had this `content`; remembers it either way."""
        key_digest = _digest(key)
        fingerprint = _digest(content)
        earlier = self._seen.get(key_digest)
        if earlier is not None and earlier[0] != fingerprint:
            self._conflicts.add(key_digest)
        self._seen[key_digest] = (fingerprint, moment)
        known = self._known.get(key_digest)
        return known is not None and known[0] == fingerprint and key_digest not in self._conflicts

    def _candidates(self, parent: pa.Table) -> pa.Table:
        """The parent rows that may have been loaded before or may be read again."""
        if self._cursor is None:
            return parent
        cursor = parent[self._cursor]
        batch_newest = pc.max(cursor).as_py()
        if batch_newest is not None:
            newest = _micros(batch_newest)
            self._newest = newest if self._newest is None else max(self._newest, newest)
        if self._newest is None:
            return parent.slice(0, 0)
        floor = self._newest - _micros_of(self._lag)
        if self._oldest_known is not None:
            floor = min(floor, self._oldest_known)
        lowest = _EPOCH + timedelta(microseconds=floor)
        return parent.filter(pc.fill_null(pc.greater_equal(cursor, lowest), False))


def _grouped(child: pa.Table, column: str, keys: pa.ChunkedArray) -> dict[Any, list[Any]]:
    """The rows of `child` whose `column` is in `keys`, grouped by it."""
    groups: dict[Any, list[Any]] = defaultdict(list)
    for row in child.filter(pc.is_in(child[column], value_set=keys)).to_pylist():
        groups[row[column]].append(row)
    return groups


def _sorted(rows: Any) -> list[str]:
    """Child rows as JSON texts in a fixed order, whatever order they arrived in."""
    return sorted(orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode() for row in rows)


def _digest(value: Any) -> int:
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _micros_of(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _pack(entries: Mapping[int, tuple[int, int]]) -> dict[str, str]:
    """Sorted by key digest, so the same rows always give the same state (dlt then writes no
    new state version)."""
    keys = sorted(entries)
    columns = (keys, [entries[k][0] for k in keys], [entries[k][1] for k in keys])
    return {
        name: base64.b64encode(array("q", values).tobytes()).decode("ascii")
        for name, values in zip(_PACKED, columns, strict=True)
    }


def _unpack(saved: Mapping[str, Any]) -> dict[int, tuple[int, int]]:
    if not saved:
        return {}
    keys, fingerprints, cursors = (array("q", base64.b64decode(saved[name])) for name in _PACKED)
    return {k: (f, c) for k, f, c in zip(keys, fingerprints, cursors, strict=True)}
