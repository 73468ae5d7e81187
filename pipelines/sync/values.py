"""identify-user value rules, applied a column at a time (Arrow compute where the type allows).

Rules (shared/refiner-api.md §3.2):
- booleans, integers and floats are sent as they are; a NaN or infinite float makes the row
  invalid; decimals become integers when their scale is 0 and floats otherwise;
- strings are sent as they are; one over 255 characters makes the row invalid;
- timestamps become ISO 8601 UTC text, `2024-05-01T10:00:00Z` (with microseconds when any value
  of the column has a fraction; values without a zone are taken as UTC); dates become
  `YYYY-MM-DD`, times `HH:MM:SS`;
- UUIDs become text; lists, structs, maps and binary values make the row invalid.
A column is "temporal" when it holds dates or timestamps, so the caller can warn when its key
does not end in `_at` (the suffix that makes Refiner parse a trait as a date).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sources.refiner.settings import MAX_TRAIT_STRING_LENGTH

_ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


class InvalidRow(Exception):
    """This row cannot be sent; the message is the reason shown to the user and logged."""


@dataclass
class ConvertedColumn:
    """A column's values ready for the payload, and the rows it makes invalid (with reasons)."""

    values: list[Any]
    invalid: dict[int, str] = field(default_factory=dict)
    temporal: bool = False


def trait_value(key: str, value: Any) -> Any:
    """Convert one Python value by the rules above, or raise InvalidRow."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRow(f"trait {key!r} is not a finite number ({value})")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidRow(f"trait {key!r} is not a finite number ({value})")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        if len(value) > MAX_TRAIT_STRING_LENGTH:
            raise InvalidRow(_too_long(key, len(value)))
        return value
    if isinstance(value, datetime):
        instant = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return instant.isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time_of_day):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise InvalidRow(f"trait {key!r} has a {type(value).__name__} value; send text or numbers")


def _too_long(key: str, length: int) -> str:
    return (
        f"trait {key!r} is {length} characters long; Refiner accepts at most "
        f"{MAX_TRAIT_STRING_LENGTH}"
    )


def convert_column(key: str, column: pa.Array | list[Any]) -> ConvertedColumn:
    """Apply the value rules to a whole column."""
    if isinstance(column, list):
        return _convert_python(key, column)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_null(kind) or pa.types.is_boolean(kind) or pa.types.is_integer(kind):
        return ConvertedColumn(column.to_pylist())
    if pa.types.is_floating(kind):
        bad = pc.and_(column.is_valid(), pc.invert(pc.is_finite(column)))
        return ConvertedColumn(
            column.to_pylist(), _reasons(bad, f"trait {key!r} is not a finite number")
        )
    if pa.types.is_decimal(kind):
        if kind.scale == 0:
            return ConvertedColumn([None if v is None else int(v) for v in column.to_pylist()])
        return ConvertedColumn(pc.cast(column, pa.float64()).to_pylist())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        lengths = pc.utf8_length(column)
        too_long = pc.greater(lengths, MAX_TRAIT_STRING_LENGTH)
        invalid = {index: _too_long(key, lengths[index].as_py()) for index in _indices(too_long)}
        return ConvertedColumn(column.to_pylist(), invalid)
    if pa.types.is_timestamp(kind):
        whole_seconds = pc.all(pc.equal(pc.floor_temporal(column, unit="second"), column))
        unit = "s" if whole_seconds.as_py() is not False else kind.unit
        column = pc.cast(column, pa.timestamp(unit, tz="UTC" if kind.tz else None))
        return ConvertedColumn(pc.strftime(column, format=_ISO_UTC).to_pylist(), temporal=True)
    if pa.types.is_date(kind):
        return ConvertedColumn(pc.cast(column, pa.string()).to_pylist(), temporal=True)
    return _convert_python(key, column.to_pylist())


def _convert_python(key: str, values: list[Any]) -> ConvertedColumn:
    converted = ConvertedColumn([None] * len(values))
    for index, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, date):
            converted.temporal = True
        try:
            converted.values[index] = trait_value(key, value)
        except InvalidRow as invalid:
            converted.invalid[index] = str(invalid)
    return converted


def _indices(mask: pa.Array) -> list[int]:
    return [int(i) for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()]


def _reasons(mask: pa.Array, reason: str) -> dict[int, str]:
    return dict.fromkeys(_indices(mask), reason)


class PayloadHasher:
    """Hashes of canonical payloads, computed from the row values without building payloads.

    The trait and account keys are fixed for a run, so they are hashed once; each row then
    contributes its identifier and its values in sorted-key order (callers pass them sorted),
    with NULL (skipped) and "" (cleared) kept distinct.
    """

    def __init__(self, trait_keys: Sequence[str], account_keys: Sequence[str]) -> None:
        if list(trait_keys) != sorted(trait_keys) or list(account_keys) != sorted(account_keys):
            raise ValueError("PayloadHasher needs keys in sorted order")
        header = orjson.dumps([list(trait_keys), list(account_keys)])
        self._prefix = hashlib.blake2b(header, digest_size=16)

    def digest(
        self, identifier_type: str, value: str, traits: Sequence[Any], account: Sequence[Any]
    ) -> str:
        """Hash of one row; `traits` and `account` hold values in sorted-key order."""
        hasher = self._prefix.copy()
        hasher.update(orjson.dumps((identifier_type, value, traits, account)))
        return hasher.hexdigest()
