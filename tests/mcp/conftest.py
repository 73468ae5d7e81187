"""Fixtures for the MCP server tests: an emulator with a sentinel key and a server factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server import MCPServer

from emulator import Emulator
from pipelines.config import ApiSettings, make_client
from pipelines.mcp.audit import AuditLog
from pipelines.mcp.refiner_tools import RefinerTools
from pipelines.mcp.server import build_server
from pipelines.mcp.settings import allowed_tools, parse_scopes
from pipelines.mcp.warehouse_tools import WarehouseTools
from sources.refiner.client import RefinerClient
from tests.mcp.helpers import SENTINEL_KEY, SENTINEL_TOKEN, MakeServer


@pytest.fixture
def api(make_emulator: Callable[..., Emulator]) -> Emulator:
    """A small emulator that accepts only the sentinel key."""
    return make_emulator(api_keys=[SENTINEL_KEY])


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "refiner-mcp-audit.jsonl"


@pytest.fixture
def make_server(api: Emulator, audit_path: Path, tmp_path: Path) -> Iterator[MakeServer]:
    """Factory: `make_server(allow="read", sql=True, duckdb_path=..., **warehouse_options)`."""
    clients: list[RefinerClient] = []

    def factory(
        allow: str = "read", sql: bool = True, duckdb_path: Path | None = None, **options: Any
    ) -> MCPServer[Any]:
        settings = ApiSettings(api_key=SENTINEL_KEY, base_url=api.base_url)
        client = make_client(settings, backoff_initial=0.01, backoff_max=0.05)
        clients.append(client)
        warehouse = WarehouseTools(
            duckdb_path=str(duckdb_path or tmp_path / "absent.duckdb"), **options
        )
        return build_server(
            allowed_tools(parse_scopes(allow, sql=sql)),
            AuditLog(audit_path, secrets=(SENTINEL_KEY, SENTINEL_TOKEN)),
            refiner=RefinerTools(client),
            warehouse=warehouse,
        )

    yield factory
    for client in clients:
        client.close()
