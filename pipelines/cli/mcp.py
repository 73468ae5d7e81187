"""`refiner mcp`: serve Refiner's tools and the warehouse to an MCP client (an agent).

stdio by default, for a client that starts the command itself; `--http` serves streamable
HTTP and requires a bearer token (`SOURCES__REFINER__MCP_TOKEN`). Bad options, a missing API
key or a missing token fail with one line and exit 2 before anything is served. The `mcp`
SDK is imported only here, inside the command.
"""

from __future__ import annotations

import typer

from pipelines.cli.options import DESTINATION, DUCKDB_PATH


def mcp(
    allow: str = typer.Option(
        "read",
        help="Scopes, comma-separated: read (always), write (update_contact, track_event), "
        "delete (delete_contact).",
    ),
    sql: bool = typer.Option(
        True,
        "--sql/--no-sql",
        help="Serve describe_warehouse and query_warehouse (read-only SQL on the dataset "
        "`load` writes and the schema of the dbt models).",
    ),
    http: bool = typer.Option(
        False, "--http", help="Serve streamable HTTP at /mcp instead of stdio; needs a token."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface for --http."),
    port: int = typer.Option(8788, help="Port for --http."),
    audit_log: str | None = typer.Option(
        None,
        help="JSON-lines audit log (default: SOURCES__REFINER__MCP_AUDIT_LOG, else "
        "./refiner-mcp-audit.jsonl).",
    ),
    destination: str | None = DESTINATION,
    duckdb_path: str | None = DUCKDB_PATH,
    query_timeout: float = typer.Option(
        30.0, min=0.1, help="Seconds before a query is interrupted."
    ),
    max_chars: int = typer.Option(
        50_000, min=100, help="Characters of query rows returned at most."
    ),
    base_url: str | None = typer.Option(
        None, help="API base URL (default: SOURCES__REFINER__BASE_URL, then .dlt config)."
    ),
) -> None:
    """Serve the Refiner tools over MCP (stdio, or streamable HTTP with --http).

    The API key comes from SOURCES__REFINER__API_KEY or .dlt/secrets.toml. Every call is
    appended to the audit log, without secrets.
    """
    from pipelines.config import make_client, resolve_api_settings, resolve_warehouse
    from pipelines.mcp.settings import (
        allowed_tools,
        check_http_host,
        parse_scopes,
        resolve_mcp_settings,
    )

    warehouse_settings = resolve_warehouse(destination, duckdb_path=duckdb_path)
    scopes = parse_scopes(allow, sql=sql)
    settings = resolve_mcp_settings(audit_log)
    if http:
        check_http_host(host, settings.token)
    api = resolve_api_settings(base_url=base_url)

    from pipelines.mcp.audit import AuditLog
    from pipelines.mcp.refiner_tools import RefinerTools
    from pipelines.mcp.server import HttpOptions, build_server, serve
    from pipelines.mcp.warehouse_tools import WarehouseTools

    options = HttpOptions(host, port, settings.token or "") if http else None
    audit = AuditLog(settings.audit_log, secrets=(api.api_key, settings.token))
    audit.check_writable()
    warehouse = WarehouseTools(
        destination=warehouse_settings.destination,
        duckdb_path=str(warehouse_settings.duckdb_path),
        schemas=(warehouse_settings.dataset, warehouse_settings.analytics_schema),
        timeout_s=query_timeout,
        max_chars=max_chars,
    )
    with make_client(api) as client:
        server = build_server(
            allowed_tools(scopes),
            audit,
            refiner=RefinerTools(client),
            warehouse=warehouse if "sql" in scopes else None,
            http=options,
        )
        serve(server, options)


def register(app: typer.Typer) -> None:
    """Add `refiner mcp` to the root app."""
    app.command("mcp")(mcp)
