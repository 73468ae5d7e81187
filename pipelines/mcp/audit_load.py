"""The MCP audit log as a dlt resource: `refiner load` copies it into `mcp_audit_log`.

Grain: one row per tool call, keyed by `call_id`, merged so a line loaded twice stays one
row. The resource remembers (in dlt's resource state, committed with the load) how many
bytes of the file it has read, and reads only what was appended since; a file shorter than
that was rotated, and is read again from its start. Only complete lines are read, so a line
being written during the load waits for the next one. A line that is not a JSON object is
skipped with a warning. `arguments` is kept as one JSON column.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import orjson
from dlt.extract.resource import DltResource

logger = logging.getLogger(__name__)

TABLE_NAME = "mcp_audit_log"
_COLUMNS: Any = {
    "call_id": {"data_type": "text", "nullable": False},
    "time": {"data_type": "timestamp"},
    "client_name": {"data_type": "text"},
    "client_version": {"data_type": "text"},
    "tool": {"data_type": "text"},
    "arguments": {"data_type": "json"},
    "outcome": {"data_type": "text"},
    "error": {"data_type": "text"},
    "duration_ms": {"data_type": "double"},
    "result_chars": {"data_type": "bigint"},
}


def audit_log_resource(path: str | Path) -> DltResource:
    """The resource that loads the audit log at `path` (an absent file yields nothing)."""
    source = Path(path)

    @dlt.resource(
        name=TABLE_NAME,
        write_disposition="merge",
        primary_key="call_id",
        columns=_COLUMNS,
    )
    def mcp_audit_log() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        if not source.is_file():
            return
        offset = int(state.get("offset", 0))
        if source.stat().st_size < offset:
            offset = 0
        with source.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        rows = _rows(complete, source)
        state["offset"] = offset + len(complete)
        if rows:
            yield rows

    resource: DltResource = mcp_audit_log()
    return resource


def _rows(chunk: bytes, source: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(chunk.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            row = None
        if isinstance(row, dict) and row.get("call_id"):
            rows.append(row)
        else:
            logger.warning("%s: skipped line %d of this read; not an audit entry", source, number)
    return rows
