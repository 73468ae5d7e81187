"""Helpers for the MCP server tests: sentinel secrets, in-process calls, a DuckDB warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import duckdb
from mcp import Client
from mcp.server import MCPServer
from mcp.types import CallToolResult, Implementation, Tool

# UUID-shaped, so the emulator treats it as a well-formed key.
SENTINEL_KEY = "5f0c1d2e-9a8b-4c7d-8e6f-0a1b2c3dbeef"
SENTINEL_TOKEN = "mcp-sentinel-token-9d41c7e0b3a24f58"
CLIENT_INFO = Implementation(name="pytest-agent", version="9.9.1")

READS = {
    "get_account_info",
    "get_contacts",
    "get_contact",
    "get_forms",
    "get_survey_responses",
    "get_segments",
    "get_reporting",
}
WAREHOUSE = {"describe_warehouse", "query_warehouse"}
WRITES = {"update_contact", "track_event"}


async def _list(server: MCPServer[Any]) -> list[Tool]:
    async with Client(server, client_info=CLIENT_INFO) as client:
        return (await client.list_tools()).tools


async def _call(server: MCPServer[Any], tool: str, arguments: dict[str, Any]) -> CallToolResult:
    async with Client(server, client_info=CLIENT_INFO) as client:
        return await client.call_tool(tool, arguments)


def list_tools(server: MCPServer[Any]) -> dict[str, Tool]:
    """The server's tools by name, listed through an in-process MCP client."""
    return {tool.name: tool for tool in anyio.run(_list, server)}


def call(server: MCPServer[Any], tool: str, **arguments: Any) -> CallToolResult:
    """Call one tool through an in-process MCP client."""
    return anyio.run(_call, server, tool, arguments)


def ok(result: CallToolResult) -> Any:
    """The structured content of a successful call."""
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    """The text of a result's content blocks."""
    return " ".join(getattr(block, "text", "") for block in result.content)


def audit_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of an audit log, parsed."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


RESPONSE_ROWS = 50


def make_warehouse(path: Path) -> Path:
    """A DuckDB file shaped like a loaded warehouse: refiner_raw.responses (50 rows) and the
    refiner_analytics.nps_daily mart, whose description dbt_project/models holds."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA refiner_raw")
        connection.execute("CREATE SCHEMA refiner_analytics")
        connection.execute(
            "CREATE TABLE refiner_raw.responses AS SELECT 'r' || i AS uuid, i AS score, "
            "repeat('x', 40) AS note FROM range(?) AS t(i)",
            [RESPONSE_ROWS],
        )
        connection.execute(
            "CREATE TABLE refiner_analytics.nps_daily AS SELECT DATE '2024-05-01' AS response_day, "
            "'f1' AS form_uuid, 42.5 AS nps"
        )
    return path


def warehouse_fingerprint(path: Path) -> list[tuple[Any, ...]]:
    """Every table with its row count and columns, to show that a query changed nothing."""
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        return [
            (
                schema,
                table,
                connection.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone(),
                connection.execute(
                    "SELECT list(column_name ORDER BY ordinal_position) FROM "
                    "information_schema.columns WHERE table_schema = ? AND table_name = ?",
                    [schema, table],
                ).fetchone(),
            )
            for schema, table in tables
        ]


MakeServer = Callable[..., MCPServer[Any]]
