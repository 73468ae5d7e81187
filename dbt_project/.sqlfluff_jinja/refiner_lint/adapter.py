"""`adapter.dispatch(name, namespace)` that resolves to the project's `duckdb__<name>` macro."""

from typing import Any

import jinja2


@jinja2.pass_context
def dispatch(context: jinja2.runtime.Context, macro_name: str, macro_namespace: str = "") -> Any:
    # Lint the DuckDB rendering, falling back to `default__` as dbt's dispatch does.
    for prefix in ("duckdb__", "default__"):
        macro = context.resolve_or_missing(prefix + macro_name)
        if macro is not jinja2.runtime.missing:
            return macro
    raise jinja2.UndefinedError(f"no duckdb__ or default__ implementation of {macro_name}")
