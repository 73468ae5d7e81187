"""PostgreSQL rows as Arrow record batches, typed from the cursor's description.

Each column gets one Arrow type for the whole result, chosen from its PostgreSQL type, so every
batch of a stream shares one schema. Types without an Arrow match (arrays, ranges, money, ...)
become their text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pyarrow as pa

_NUMERIC = 1700


def _arrow_types() -> dict[int, pa.DataType]:
    import pyarrow as pa

    return {
        16: pa.bool_(),
        20: pa.int64(),
        21: pa.int16(),
        23: pa.int32(),
        26: pa.int64(),
        700: pa.float32(),
        701: pa.float64(),
        25: pa.string(),
        1042: pa.string(),
        1043: pa.string(),
        19: pa.string(),
        2950: pa.string(),
        114: pa.string(),
        3802: pa.string(),
        1082: pa.date32(),
        1083: pa.time64("us"),
        1114: pa.timestamp("us"),
        1184: pa.timestamp("us", tz="UTC"),
        1186: pa.duration("us"),
        17: pa.binary(),
    }


def postgres_schema(description: Sequence[Any]) -> pa.Schema:
    """The Arrow schema for a psycopg2 cursor description. NUMERIC with a declared precision is
    decimal128(precision, scale); an unconstrained NUMERIC (such as the result of round()) is
    float64, since its scale can change from row to row."""
    import pyarrow as pa

    types = _arrow_types()
    fields = []
    for column in description:
        if column.type_code == _NUMERIC:
            precision, scale = column.precision, column.scale
            valid = precision is not None and 0 < precision <= 38 and scale is not None
            arrow_type = pa.decimal128(precision, scale) if valid else pa.float64()
        else:
            arrow_type = types.get(column.type_code, pa.string())
        fields.append(pa.field(column.name, arrow_type))
    return pa.schema(fields)


def rows_to_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """One record batch of `rows` in `schema`; JSON values are serialised back to their text."""
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        convert = _converter(field.type)
        arrays.append(pa.array([convert(value) for value in values], type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _converter(arrow_type: pa.DataType) -> Callable[[Any], Any]:
    import pyarrow as pa

    if pa.types.is_floating(arrow_type):
        return _to_float
    if pa.types.is_string(arrow_type):
        return _to_text
    return _same


def _same(value: Any) -> Any:
    return value


def _to_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _to_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)
