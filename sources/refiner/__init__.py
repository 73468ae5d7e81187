"""Refiner (refiner.io) for dlt: the `refiner` source and the client it is built on.

- `sources.refiner.source`: the `@dlt.source` `refiner` and its resources (cursors and
  incremental loading are documented there).
- `sources.refiner.schema`: the tables it writes, with their grains, keys and dispositions.
- `sources.refiner.client`: `RefinerClient`, one typed method per API operation.

The source's names are imported on first use, so importing the client, its errors or its
settings (as the CLI and the reverse sync do) does not load dlt and pyarrow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sources.refiner.schema import CHILD_TABLES, RESOURCE_NAMES, TABLES_BY_RESOURCE
    from sources.refiner.source import RunStats, refiner

__all__ = ["CHILD_TABLES", "RESOURCE_NAMES", "TABLES_BY_RESOURCE", "RunStats", "refiner"]

_MODULES = {
    "CHILD_TABLES": "sources.refiner.schema",
    "RESOURCE_NAMES": "sources.refiner.schema",
    "TABLES_BY_RESOURCE": "sources.refiner.schema",
    "RunStats": "sources.refiner.source",
    "refiner": "sources.refiner.source",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'sources.refiner' has no attribute {name!r}")
