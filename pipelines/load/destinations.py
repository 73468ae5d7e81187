"""Where a load writes: the dlt destination, the pipeline's identity, and each warehouse's needs.

- DuckDB gets parquet load files (the source yields Arrow tables, so dlt skips its per-row
  normalizer) and DUCKDB_SETTINGS; a file that another process holds is reported as such
  (`WarehouseBusyError`), not as dlt's "check your credentials".
- PostgreSQL gets insert_values (see LOADER_FILE_FORMATS), with U+0000, which it cannot store,
  replaced by U+FFFD.
- The pipeline name includes a digest of the destination and dataset, so loads into two
  warehouses never share state.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Final

from pipelines.defaults import DEFAULT_DUCKDB_PATH
from pipelines.errors import error_chain

PIPELINE_PREFIX: Final = "refiner"
LOADER_FILE_FORMATS: Final = {"duckdb": "parquet", "postgres": "insert_values"}
"""parquet skips dlt's per-row work on DuckDB. For Arrow items dlt would pick csv on PostgreSQL,
whose COPY reads an empty string as NULL."""
DUCKDB_SETTINGS: Final = {"memory_limit": "512MB", "preserve_insertion_order": False}
"""DuckDB holds a merge of a large load in memory up to its default limit (80% of RAM); with
this limit it spills to a temporary folder beside the file instead, and without insertion
order it need not buffer rows to keep it. Peak memory then stays flat as loads grow."""
_DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in '
    r"(?P<program>.+?) \(PID (?P<pid>\d+)\)"
)


class WarehouseBusyError(Exception):
    """The DuckDB file is held open by another process; nothing was written."""


def pipeline_identity(
    destination: str, dataset: str, duckdb_path: str | Path | None
) -> tuple[str, Any]:
    """The pipeline name and the dlt destination: the name includes a digest of where the
    data goes, so loads into two warehouses never share state."""
    import dlt

    if destination == "duckdb":
        configured = duckdb_path or dlt.config.get("destination.duckdb.credentials")
        location = str(Path(str(configured or DEFAULT_DUCKDB_PATH)).resolve())
        target: Any = dlt.destinations.duckdb(credentials=_duckdb_credentials(location))
    else:
        target = destination
        location = _credentials_identity(destination)
    digest = hashlib.sha1(f"{destination}|{location}|{dataset}".encode()).hexdigest()[:10]
    return f"{PIPELINE_PREFIX}_{destination}_{digest}", target


def prepare_resources(source: Any, destination: str, tables_by_resource: Any) -> None:
    """Give every table of the selected resources the destination's file format, and on
    PostgreSQL the U+0000 replacement."""
    file_format = LOADER_FILE_FORMATS.get(destination)
    for name, resource in source.selected_resources.items():
        if file_format is not None:
            # run(loader_file_format=...) would reach the resource's root table only.
            for table in tables_by_resource[name]:
                resource.apply_hints(
                    table_name=table, create_table_variant=table != name, file_format=file_format
                )
        if destination == "postgres":
            resource.add_map(postgres_safe_text)


def warehouse_busy(error: BaseException) -> WarehouseBusyError | None:
    """A WarehouseBusyError when DuckDB's lock message is in `error`'s chain, else None.

    DuckDB names the file and the process holding it; dlt wraps that in a connection error
    that suggests wrong credentials or a network failure."""
    for cause in error_chain(error):
        found = _DUCKDB_LOCK.search(str(cause))
        if found:
            return WarehouseBusyError(
                f"DuckDB file {found['file']} is locked by {found['program']} (PID "
                f"{found['pid']}); close that program or its connection, then run again"
            )
    return None


def _duckdb_credentials(location: str) -> Any:
    """Credentials for the DuckDB file at `location`, with DUCKDB_SETTINGS applied."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    credentials = DuckDbCredentials(location)
    credentials.global_config = dict(DUCKDB_SETTINGS)
    return credentials


def _credentials_identity(destination: str) -> str:
    """A password-free description of where `destination` writes, for the pipeline name."""
    from urllib.parse import urlsplit

    import dlt

    credentials: Any = dlt.secrets.get(f"destination.{destination}.credentials")
    if isinstance(credentials, str):
        parts = urlsplit(credentials)
        return f"{parts.scheme}://{parts.username}@{parts.hostname}:{parts.port}{parts.path}"
    if isinstance(credentials, dict):
        names = ("host", "port", "database", "username")
        return "/".join(str(credentials.get(name, "")) for name in names)
    return ""


def postgres_safe_text(item: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold U+0000: it becomes U+FFFD (in JSON, its escape)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(item, pa.Table):
        return item
    for index, column in enumerate(item.columns):
        if not pa.types.is_string(column.type):
            continue
        found = pc.or_(pc.match_substring(column, "\x00"), pc.match_substring(column, "\\u0000"))
        if pc.any(found).as_py():
            cleaned = pc.replace_substring(column, "\x00", "\ufffd")
            cleaned = pc.replace_substring(cleaned, "\\u0000", "\\ufffd")
            item = item.set_column(index, item.field(index), cleaned)
    return item
