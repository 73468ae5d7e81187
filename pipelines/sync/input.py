"""Where the reverse sync's rows come from: a dbt model, a `schema.table`, or one read-only SELECT.

SQL handed in from outside (`--sql`) passes the query engine's read-only check
(`pipelines.query.sandbox.validate_select`) before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import ConfigError
from pipelines.query.sandbox import validate_select
from pipelines.sync.warehouse import ColumnData, Warehouse, identifier

DEFAULT_MODEL = "contact_traits"


@dataclass(frozen=True)
class SyncInput:
    """Where rows come from: a dbt model in the analytics schema, a `schema.table`, or a SELECT."""

    model: str | None = None
    table: str | None = None
    sql: str | None = None

    def resolve(self, analytics_schema: str, warehouse: Warehouse) -> tuple[str, str]:
        """Return (statement to run, default sync name). Names are validated and quoted."""
        given = [value for value in (self.model, self.table, self.sql) if value is not None]
        if len(given) > 1:
            raise ConfigError("Give at most one of --model, --table and --sql.")
        if self.sql is not None:
            return validate_select(self.sql, warehouse.destination), "sql"
        if self.table is not None:
            parts = self.table.split(".")
            if len(parts) != 2:
                raise ConfigError(f"--table must be schema.name, got {self.table!r}.")
            schema, table = (identifier(part, "table name") for part in parts)
            return f"SELECT * FROM {warehouse.qualified(schema, table)}", f"{schema}.{table}"
        model = identifier(self.model or DEFAULT_MODEL, "model name")
        schema = identifier(analytics_schema, "analytics schema")
        return f"SELECT * FROM {warehouse.qualified(schema, model)}", model


def read_input(warehouse: Warehouse, statement: str) -> ColumnData:
    """Run the input statement; a missing model or table becomes a ConfigError."""
    try:
        return warehouse.read(statement)
    except Exception as error:
        if "does not exist" in str(error) or "not found" in str(error).lower():
            raise ConfigError(
                f"Input not found ({str(error).splitlines()[0]}). Run `refiner transform` to "
                "build the contact_traits model, or pass --table or --sql."
            ) from error
        raise
