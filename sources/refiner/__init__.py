"""Refiner (refiner.io) for dlt: the `refiner` source and the client it is built on.

- `sources.refiner.source`: the `@dlt.source` `refiner` and its resources (grains, keys,
  cursors and write dispositions are documented there).
- `sources.refiner.client`: `RefinerClient`, one typed method per API operation.

The source's names are imported on first use, so importing the client, its errors or its
settings (as the CLI and the reverse sync do) does not load dlt and pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sources.refiner.source import (
        CHILD_TABLES,
        RESOURCE_NAMES,
        TABLES_BY_RESOURCE,
        RunStats,
        refiner,
    )

__all__ = ["CHILD_TABLES", "RESOURCE_NAMES", "TABLES_BY_RESOURCE", "RunStats", "refiner"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sources.refiner import source

        return getattr(source, name)
    raise AttributeError(f"module 'sources.refiner' has no attribute {name!r}")
