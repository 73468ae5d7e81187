"""Scopes, the token and the audit log path, as `refiner mcp` resolves them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import ConfigError
from pipelines.mcp.audit import AuditLog
from pipelines.mcp.settings import (
    DEFAULT_AUDIT_LOG,
    allowed_tools,
    check_http_host,
    parse_scopes,
    resolve_mcp_settings,
)
from tests.mcp.helpers import READS, SENTINEL_TOKEN, WAREHOUSE


def test_scopes_add_to_read_and_sql_is_on_by_default() -> None:
    assert parse_scopes("read") == {"read", "sql"}
    assert parse_scopes(" Write , delete ") == {"read", "write", "delete", "sql"}
    assert parse_scopes("read,sql", sql=False) == {"read"}
    assert allowed_tools(parse_scopes("read")) == READS | WAREHOUSE
    with pytest.raises(ConfigError, match="unknown scope admin, root; use a comma list"):
        parse_scopes("read,root,admin")


def test_token_and_audit_log_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SOURCES__REFINER__MCP_TOKEN", raising=False)
    monkeypatch.delenv("SOURCES__REFINER__MCP_AUDIT_LOG", raising=False)
    default = resolve_mcp_settings()
    assert default.token is None and default.audit_log == Path(DEFAULT_AUDIT_LOG)
    monkeypatch.setenv("SOURCES__REFINER__MCP_TOKEN", f" {SENTINEL_TOKEN} ")
    monkeypatch.setenv("SOURCES__REFINER__MCP_AUDIT_LOG", str(tmp_path / "env.jsonl"))
    settings = resolve_mcp_settings()
    assert settings.token == SENTINEL_TOKEN and SENTINEL_TOKEN not in repr(settings)
    assert settings.audit_log == tmp_path / "env.jsonl"
    assert resolve_mcp_settings(tmp_path / "flag.jsonl").audit_log == tmp_path / "flag.jsonl"


def test_http_needs_a_token() -> None:
    check_http_host("127.0.0.1", SENTINEL_TOKEN)
    check_http_host("0.0.0.0", SENTINEL_TOKEN)
    with pytest.raises(ConfigError, match=r"non-loopback host 0\.0\.0\.0"):
        check_http_host("0.0.0.0", None)
    with pytest.raises(ConfigError, match="on loopback; set SOURCES__REFINER__MCP_TOKEN"):
        check_http_host("::1", None)


def test_an_unwritable_audit_log_stops_the_server(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="Cannot write the MCP audit log"):
        AuditLog(blocker / "audit.jsonl").check_writable()
    writable = AuditLog(tmp_path / "new" / "audit.jsonl")
    writable.check_writable()
    assert writable.path.exists()
