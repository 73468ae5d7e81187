"""The statement check in front of every read-only query: one SELECT (or WITH … SELECT), parsed.

The check is the first of two guards. The statement is parsed with sqlglot, in the dialect of the
warehouse, and refused unless it is exactly one query that neither writes, changes the session nor
reads files. The second guard is the connection it then runs on (see `pipelines.query.engine`): a
read-only DuckDB connection with external access off, or a read-only PostgreSQL transaction. A
statement the parser misjudges therefore still cannot write.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from sqlglot.errors import ParseError
    from sqlglot.expressions import Func

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

# Functions that read or write files, change settings or reach other servers. DuckDB's connection
# refuses the file functions anyway; PostgreSQL lets a superuser call pg_read_file in a read-only
# transaction, so the parser is the guard there.
_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "read_csv",
        "read_csv_auto",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_ndjson",
        "read_parquet",
        "parquet_scan",
        "read_text",
        "read_blob",
        "read_xlsx",
        "glob",
        "sniff_csv",
        "getenv",
        "set_config",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "lo_get",
        "dblink",
        "dblink_exec",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
    }
)


class QueryRefused(ConfigError, ValueError):
    """The statement is not one read-only SELECT; the message is one line saying why."""


def validate_select(sql: str, dialect: str, *, what: str = "--sql") -> str:
    """Return `sql`, without its trailing semicolons, if it is exactly one read-only query.

    `dialect` is the warehouse (duckdb or postgres); `what` names the input in messages. Several
    statements, DML, DDL, SELECT INTO, SET, PRAGMA, ATTACH, COPY, or a call to a function that
    reads files or changes settings raise QueryRefused. The text is returned unchanged otherwise,
    to run on a read-only connection.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as error:
        raise QueryRefused(f"{what} is not valid SQL: {_parse_error(error)}") from error
    if len(statements) != 1:
        raise QueryRefused(f"{what} must be a single SELECT statement, got {len(statements)}.")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise QueryRefused(f"{what} must be a SELECT statement, got {statement.key.upper()}.")
    for node in statement.walk():
        if node.key in _FORBIDDEN_NODE_KEYS:
            raise QueryRefused(f"{what} must only read; it contains {node.key.upper()}.")
        if isinstance(node, exp.Func) and _function_name(node) in _FORBIDDEN_FUNCTIONS:
            raise QueryRefused(
                f"{what} must only read tables; {_function_name(node)}() is not allowed."
            )
    return sql.strip().rstrip(";").rstrip()


def _function_name(node: Func) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _parse_error(error: ParseError) -> str:
    """sqlglot's first error as `description (line L, column C)`, without Python class names."""
    details = error.errors[0] if error.errors else {}
    description = re.sub(
        r"<class 'sqlglot\.expressions\.(\w+)'>",
        r"\1",
        str(details.get("description") or str(error).splitlines()[0]),
    )
    if details.get("line"):
        return f"{description} (line {details['line']}, column {details.get('col')})"
    return description
