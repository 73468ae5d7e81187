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
where it was, gives a new fingerprint, so the row is loaded. DuckDB computes the fingerprints
of a batch in one query over its Arrow tables (`hash` of the row and of its sorted child row
hashes), without turning rows into Python objects. DuckDB's hash is the same in every process,
but a DuckDB release may change it; the first run after such a release then loads the lookback
rows once more.
Fingerprints are remembered per key: a row that changes and then changes back is compared with
the version loaded last, never with an older one.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from array import array
from collections.abc import Collection, Mapping, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import duckdb
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
        self._duckdb: duckdb.DuckDBPyConnection | None = None
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
        children = {name: tables[name] for name in self._fingerprinted if name in tables}
        unchanged: list[Any] = []
        changed: set[Any] = set()
        for value, fingerprint, moment in self._fingerprints(candidates, children):
            if self._loaded_before((value,), fingerprint, moment):
                unchanged.append(value)
            else:
                changed.add(value)
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
            if not self._loaded_before(tuple(row[column] for column in self._key), _digest(row), 0)
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

    def _fingerprints(
        self, parent: pa.Table, children: Mapping[str, pa.Table]
    ) -> list[tuple[Any, int, int]]:
        """For each row of `parent`: its key, its fingerprint and its cursor in microseconds
        (0 without a cursor). The fingerprint is the signed 64-bit DuckDB hash of the row and,
        for each table in `children`, of the sorted hashes of its rows that belong to the row."""
        (key,) = self._key
        if self._duckdb is None:
            self._duckdb = _shared_duckdb().cursor()
        connection = self._duckdb
        views = {"parent": parent} | {f"child_{i}": t for i, t in enumerate(children.values())}
        joins, hashed = [], ["p"]
        for index, name in enumerate(children):
            joins.append(
                f"LEFT JOIN (SELECT {_quoted(self._children[name])} AS k, "
                f"list_sort(list(hash(c))) AS h FROM child_{index} AS c GROUP BY 1) AS c_{index} "
                f"ON c_{index}.k = p.{_quoted(key)}"
            )
            hashed.append(f"c_{index}.h")
        moment = f"epoch_us(p.{_quoted(self._cursor)})" if self._cursor else "0"
        query = (
            f"SELECT p.{_quoted(key)}, hash({', '.join(hashed)}), {moment} "
            f"FROM parent AS p {' '.join(joins)}"
        )
        for view, table in views.items():
            connection.register(view, table)
        try:
            rows = connection.sql(query).fetchall()
        finally:
            for view in views:
                connection.unregister(view)
        return [(value, _signed(fingerprint), at) for value, fingerprint, at in rows]

    def _loaded_before(self, key: tuple[Any, ...], fingerprint: int, moment: int) -> bool:
        """Whether the last loaded version of `key` had this `fingerprint`; remembers it
        either way."""
        key_digest = _digest(key)
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


_DUCKDB: list[duckdb.DuckDBPyConnection] = []
_DUCKDB_LOCK = threading.Lock()


def _shared_duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process (opening one takes about 30 ms); each LoadedRows
    queries it through its own cursor, so resources on different threads do not meet."""
    with _DUCKDB_LOCK:
        if not _DUCKDB:
            _DUCKDB.append(duckdb.connect(config={"threads": 1}))
        return _DUCKDB[0]


def _signed(value: int) -> int:
    """An unsigned 64-bit hash as the signed value the state's int64 arrays hold."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
