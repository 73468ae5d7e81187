"""Read-only SQL on the warehouse: the engine (`pipelines.query.engine`) behind `refiner sql`,
the MCP server's warehouse tools, and the notebook API `query()` and `dataset()`.

Importing this package is cheap: pandas, pyarrow, duckdb and dlt load on first use.
"""

from __future__ import annotations

from pipelines.query.notebook import dataset, query

__all__ = ["dataset", "query"]
