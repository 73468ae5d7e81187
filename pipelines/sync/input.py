"""Where the reverse sync's rows come from: a dbt model, a `schema.table`, or one read-only SELECT.

`validate_select` is the read-only check for SQL handed in from outside (`--sql`): sqlglot parses
it, and anything but exactly one SELECT (or WITH ... SELECT) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import ConfigError
from pipelines.sync.warehouse import ColumnData, Warehouse, identifier

DEFAULT_MODEL = "contact_traits"

# sqlglot node keys that write, change the session or leave the statement unparsed.
_FORBIDDEN_NODE_KEYS = frozenset(
    {
        "insert",
        "update",
        "delete",
        "merge",
        "create",
        "drop",
        "alter",
        "command",
        "copy",
        "pragma",
        "transaction",
        "commit",
        "rollback",
        "into",
        "set",
        "use",
        "attach",
        "detach",
        "grant",
        "truncatetable",
        "analyze",
        "describe",
        "loaddata",
    }
)


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


def validate_select(sql: str, dialect: str) -> str:
    """Return `sql` if it is exactly one read-only SELECT (or WITH ... SELECT) statement.

    The statement is parsed with sqlglot; anything else (several statements, DML, DDL,
    SELECT INTO, SET, PRAGMA, ATTACH, COPY) raises ConfigError. The text runs unchanged, on a
    read-only connection, so a query sqlglot misjudges still cannot write.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as error:
        raise ConfigError(f"--sql is not valid SQL: {str(error).splitlines()[0]}") from error
    if len(statements) != 1:
        raise ConfigError(f"--sql must be a single SELECT statement, got {len(statements)}.")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ConfigError(f"--sql must be a SELECT statement, got {statement.key.upper()}.")
    for node in statement.walk():
        if node.key in _FORBIDDEN_NODE_KEYS:
            raise ConfigError(f"--sql must only read; it contains {node.key.upper()}.")
    return sql.strip().rstrip(";")


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
