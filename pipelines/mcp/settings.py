"""Scopes, the bearer token and the audit log path of `refiner mcp`.

Scopes are additive on top of `read`: `write` adds update_contact and track_event, `delete`
adds delete_contact, `sql` adds the warehouse tools and is on unless turned off. The token
(`mcp_token`, a secret) and the audit log path (`mcp_audit_log`) sit under
`[sources.refiner]` beside the API key, i.e. `SOURCES__REFINER__MCP_TOKEN` and
`SOURCES__REFINER__MCP_AUDIT_LOG`, read through dlt's providers as the API key is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, cast

from pipelines.config import SECTION
from pipelines.errors import ConfigError

Scope = Literal["read", "write", "delete", "sql"]
SCOPES: Final[tuple[Scope, ...]] = ("read", "write", "delete", "sql")

TOOL_SCOPES: Final[dict[str, Scope]] = {
    "get_account_info": "read",
    "get_contacts": "read",
    "get_contact": "read",
    "get_forms": "read",
    "get_survey_responses": "read",
    "get_segments": "read",
    "get_reporting": "read",
    "update_contact": "write",
    "track_event": "write",
    "delete_contact": "delete",
    "describe_warehouse": "sql",
    "query_warehouse": "sql",
}
"""Every tool the server knows, and the scope that lists it."""

DEFAULT_AUDIT_LOG: Final = "refiner-mcp-audit.jsonl"
DEFAULT_HTTP_PORT: Final = 8788
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def parse_scopes(allow: str, *, sql: bool = True) -> frozenset[Scope]:
    """The scopes of `--allow` (a comma list), plus `read`, and `sql` unless `sql` is False
    (`--no-sql`, which wins over `--allow sql`).

    Raises ConfigError naming the valid scopes for an unknown one.
    """
    names = {name.strip().lower() for name in allow.split(",") if name.strip()}
    unknown = sorted(names - set(SCOPES))
    if unknown:
        raise ConfigError(
            f"--allow: unknown scope {', '.join(unknown)}; use a comma list of {', '.join(SCOPES)}"
        )
    scopes: set[Scope] = {cast(Scope, name) for name in names} | {"read", "sql"}
    if not sql:
        scopes.discard("sql")
    return frozenset(scopes)


def allowed_tools(scopes: frozenset[Scope]) -> frozenset[str]:
    """The names of the tools these scopes list."""
    return frozenset(name for name, scope in TOOL_SCOPES.items() if scope in scopes)


@dataclass(frozen=True)
class McpSettings:
    """Resolved server settings; the token is left out of the repr."""

    token: str | None = field(default=None, repr=False)
    audit_log: Path = Path(DEFAULT_AUDIT_LOG)


def resolve_mcp_settings(audit_log: str | Path | None = None) -> McpSettings:
    """The token from dlt secrets/environment, and the audit log from the flag, then config.

    Raises ConfigError when `mcp_token` is set but empty, so a blank variable does not
    silently turn bearer auth off.
    """
    import dlt

    token: object = dlt.secrets.get(f"{SECTION}.mcp_token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ConfigError(
            f"{SECTION}.mcp_token is empty; set SOURCES__REFINER__MCP_TOKEN to a long random "
            "string, or unset it"
        )
    path = audit_log if audit_log is not None else dlt.config.get(f"{SECTION}.mcp_audit_log")
    return McpSettings(
        token=token.strip() if isinstance(token, str) else None,
        audit_log=Path(path or DEFAULT_AUDIT_LOG),
    )


def check_http_host(host: str, token: str | None) -> None:
    """Refuse to serve HTTP without a token, naming the fix; off loopback especially.

    Raises ConfigError.
    """
    if token:
        return
    where = "on loopback" if host in LOOPBACK_HOSTS else f"on the non-loopback host {host}"
    raise ConfigError(
        f"refiner mcp --http needs a bearer token {where}; set SOURCES__REFINER__MCP_TOKEN "
        "(or mcp_token under [sources.refiner] in .dlt/secrets.toml)"
    )
