"""Write a streamed query result (Arrow record batches) as CSV, JSON Lines or Parquet.

- CSV: RFC 4180, UTF-8, a header row; every string is quoted, so commas, quotes and line breaks
  inside answers survive; NULL is an empty field; timestamps are `YYYY-MM-DD HH:MM:SS.ffffffZ`.
- JSON: one object per line (JSON Lines); timestamps ISO 8601, decimals as exact numbers,
  NULL as null.
- Parquet: the Arrow types as they are.

Values Arrow cannot write as CSV (lists, structs, intervals) are written as their JSON text.
Batches are written as they arrive, so memory stays at one batch whatever the row count.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("csv", "json", "parquet")


def limit_rows(batches: Iterable[pa.RecordBatch], max_rows: int | None) -> Iterator[pa.RecordBatch]:
    """The batches cut to `max_rows` rows in all (all of them with None); the first batch is
    always yielded, so the schema is known even when it is cut to nothing."""
    left = max_rows
    for index, batch in enumerate(batches):
        if left is None:
            yield batch
            continue
        if left <= 0 and index > 0:
            return
        yield batch.slice(0, left)
        left -= min(left, batch.num_rows)


def write_csv(batches: Iterable[pa.RecordBatch], out: IO[str]) -> int:
    """Write the batches as CSV text to `out`; return the number of rows."""
    import pyarrow.csv as pacsv

    rows = 0
    for index, batch in enumerate(batches):
        buffer = io.BytesIO()
        options = pacsv.WriteOptions(include_header=index == 0)
        pacsv.write_csv(_csv_ready(batch), buffer, write_options=options)
        out.write(buffer.getvalue().decode("utf-8"))
        rows += batch.num_rows
    return rows


def write_json_lines(batches: Iterable[pa.RecordBatch], out: IO[str]) -> int:
    """Write the batches as JSON Lines to `out`; return the number of rows."""
    rows = 0
    for batch in batches:
        for record in batch.to_pylist():
            out.write(orjson.dumps(record, default=_json_default).decode("utf-8"))
            out.write("\n")
        rows += batch.num_rows
    return rows


def write_parquet(batches: Iterable[pa.RecordBatch], path: str) -> int:
    """Write the batches to a Parquet file at `path`; return the number of rows."""
    import pyarrow.parquet as pq

    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with every column Arrow's CSV writer cannot handle turned into JSON text."""
    import pyarrow as pa

    if all(_csv_writable(field.type) for field in batch.schema):
        return batch
    columns = []
    fields = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if _csv_writable(field.type):
            columns.append(column)
            fields.append(field)
        else:
            text = [None if value is None else _json_text(value) for value in column.to_pylist()]
            columns.append(pa.array(text, type=pa.string()))
            fields.append(pa.field(field.name, pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def _csv_writable(arrow_type: pa.DataType) -> bool:
    from pyarrow import types

    if types.is_interval(arrow_type) or types.is_duration(arrow_type):
        return False
    checks = (
        types.is_integer,
        types.is_floating,
        types.is_decimal,
        types.is_boolean,
        types.is_string,
        types.is_large_string,
        types.is_temporal,
        types.is_binary,
        types.is_null,
    )
    return any(check(arrow_type) for check in checks)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode("utf-8")


def _json_default(value: Any) -> Any:
    """What orjson cannot write itself: exact decimals, durations, intervals, bytes."""
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "months") and hasattr(value, "days") and hasattr(value, "nanoseconds"):
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
