"""The MCP server of `refiner mcp`: the tools its scopes allow, audited, on stdio or HTTP.

`build_server` registers only the tools the scopes list, with their annotations, and puts
`AuditMiddleware` in front of them, so a tool outside the scopes is neither listed nor
callable, and every call leaves one audit line. Streamable HTTP requires a bearer token,
checked in constant time by the SDK's bearer middleware; `/health` answers without it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from mcp.server import MCPServer
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.types import ToolAnnotations
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pipelines.mcp.audit import AuditLog, AuditMiddleware
from pipelines.mcp.refiner_tools import RefinerTools
from pipelines.mcp.settings import TOOL_SCOPES
from pipelines.mcp.warehouse_tools import WarehouseTools

SERVER_NAME = "refiner"
INSTRUCTIONS = (
    "Tools for one Refiner (refiner.io) account and its warehouse. List tools return one "
    "page: pass next_cursor back as page_cursor until it is null. describe_warehouse shows "
    "the tables that query_warehouse (read-only SQL) can read."
)

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
_WAREHOUSE = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ANNOTATIONS: dict[str, ToolAnnotations] = {
    **{name: _READ for name, scope in TOOL_SCOPES.items() if scope == "read"},
    "update_contact": ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    ),
    "track_event": ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
    ),
    "delete_contact": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
    ),
    "describe_warehouse": _WAREHOUSE,
    "query_warehouse": _WAREHOUSE,
}


class StaticTokenVerifier:
    """Accepts exactly one bearer token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        """An access token for the configured token, None for any other."""
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token="***", client_id="refiner-mcp", scopes=[])
        return None


@dataclass(frozen=True)
class HttpOptions:
    """Where streamable HTTP listens, and the token it requires."""

    host: str
    port: int
    token: str


def build_server(
    allowed: frozenset[str],
    audit: AuditLog,
    *,
    refiner: RefinerTools | None = None,
    warehouse: WarehouseTools | None = None,
    http: HttpOptions | None = None,
) -> MCPServer[Any]:
    """An MCPServer listing the tools in `allowed` (names from settings.TOOL_SCOPES).

    `refiner` serves the Refiner tools and `warehouse` the warehouse tools; a tool allowed
    without its provider is a programming error (ValueError). With `http`, every request to
    the MCP endpoint needs `Authorization: Bearer <token>`.
    """
    auth: dict[str, Any] = {}
    if http is not None:
        auth = {
            "token_verifier": StaticTokenVerifier(http.token),
            "auth": AuthSettings(
                issuer_url=AnyHttpUrl(f"http://{_url_host(http.host)}:{http.port}"),
                resource_server_url=None,
            ),
        }
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING", **auth
    )
    server.middleware.append(AuditMiddleware(audit, allowed))
    for name in TOOL_SCOPES:
        if name in allowed:
            provider = warehouse if TOOL_SCOPES[name] == "sql" else refiner
            if provider is None:
                raise ValueError(f"{name} is allowed but nothing provides it")
            title = name.replace("_", " ").capitalize()
            server.add_tool(getattr(provider, name), title=title, annotations=ANNOTATIONS[name])
    server.custom_route("/health", methods=["GET"])(_health)
    return server


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def serve(server: MCPServer[Any], http: HttpOptions | None) -> None:
    """Serve until the client disconnects (stdio) or SIGINT/SIGTERM (HTTP)."""
    if http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host=http.host, port=http.port)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
