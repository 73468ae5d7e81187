"""The audit log: one JSON line per tool call, whether allowed, refused or failed.

A line holds `time` (UTC, ISO 8601), `call_id`, `client_name` and `client_version` (as the
MCP client introduced itself), `tool`, `arguments`, `outcome` (`ok`, `refused` or `failed`),
`error` (one line, or null), `duration_ms` and `result_chars` (the size of the result as
sent). Arguments whose name says secret (key, token, password, ...) are replaced, and every
known secret value (the API key, the MCP token; plain or percent-encoded) is masked wherever
it appears, SQL included;
SQL is otherwise kept as sent. Lines are appended under a lock with one write each, so lines
of concurrent calls never interleave.

`AuditMiddleware` is an MCP server middleware: it sees every `tools/call`, refuses tools
outside the server's scopes before they run, masks known secret values in the result it
sends back, and writes the line. A tool marks its own
refusal (a policy, not a failure) with `refuse()`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus

import orjson

from pipelines.errors import ConfigError
from pipelines.mcp.settings import TOOL_SCOPES

MASK = "***"
MAX_ERROR_CHARS = 500
_SECRET_NAME = re.compile(r"(?i)(api_?key|token|secret|password|passwd|authorization|bearer)")


@dataclass
class CallRecord:
    """What a running tool call reports to the middleware, across the worker thread."""

    refused: bool = False


_CURRENT_CALL: ContextVar[CallRecord | None] = ContextVar("refiner_mcp_call", default=None)


def refuse(message: str) -> NoReturn:
    """Refuse the current tool call with `message`: a tool error, audited as `refused`."""
    from mcp.server.mcpserver.exceptions import ToolError

    record = _CURRENT_CALL.get()
    if record is not None:
        record.refused = True
    raise ToolError(message)


class AuditLog:
    """Appends audit lines to `path` (created with its folder), masking `secrets`."""

    def __init__(self, path: Path, secrets: Iterable[str | None] = ()) -> None:
        self.path = path
        # A secret can also come back percent-encoded, inside a URL in an error message.
        known = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}
        self._secrets = tuple(sorted(known, key=len, reverse=True))
        self._lock = threading.Lock()

    def mask(self, text: str) -> str:
        """`text` with every known secret value replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def check_writable(self) -> None:
        """Create the log (and its folder) if needed; ConfigError naming the path when it
        cannot be written, so the server never runs without its audit trail."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab"):
                pass
        except OSError as error:
            raise ConfigError(
                f"Cannot write the MCP audit log {str(self.path)!r} ({error.strerror}); "
                "pass --audit-log or set SOURCES__REFINER__MCP_AUDIT_LOG to a writable file"
            ) from None

    def mask_values(self, value: dict[str, Any]) -> dict[str, Any]:
        """`value` (JSON-ready) with every known secret value masked, keys left alone: what
        goes back to the client, where a secret could arrive inside data or an echoed URL."""
        encoded = orjson.dumps(value)
        if not any(secret.encode() in encoded for secret in self._secrets):
            return value
        masked: dict[str, Any] = orjson.loads(self.mask(encoded.decode()))
        return masked

    def redact(self, value: Any) -> Any:
        """A JSON-ready copy of `value` with secret-named keys and secret values masked."""
        if isinstance(value, Mapping):
            return {
                str(k): MASK if _SECRET_NAME.search(str(k)) else self.redact(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.redact(item) for item in value]
        if isinstance(value, str):
            return self.mask(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.mask(repr(value))

    def write(self, entry: Mapping[str, Any]) -> None:
        """Append one line (the entry is redacted first)."""
        line = orjson.dumps(self.redact(entry)) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                handle.write(line)


CallNext = Callable[[Any], Awaitable[Any]]


class AuditMiddleware:
    """MCP server middleware: refuse tools outside `allowed`, audit every `tools/call`."""

    def __init__(self, log: AuditLog, allowed: frozenset[str]) -> None:
        self._log = log
        self._allowed = allowed

    async def __call__(self, ctx: Any, call_next: CallNext) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params = ctx.params or {}
        tool = str(params.get("name", ""))
        arguments = params.get("arguments") or {}
        record = CallRecord()
        token = _CURRENT_CALL.set(record)
        started = time.monotonic()
        try:
            if tool in TOOL_SCOPES and tool not in self._allowed:
                result: Any = _out_of_scope(tool)
                record.refused = True
            else:
                result = await call_next(ctx)
        except BaseException as raised:
            self._write(ctx, tool, arguments, started, "failed", _one_line(str(raised)), 0)
            raise
        finally:
            _CURRENT_CALL.reset(token)
        wire = self._log.mask_values(_wire(result))
        failed = bool(wire.get("isError"))
        outcome = "refused" if record.refused else "failed" if failed else "ok"
        error = _one_line(_text_of(wire)) if failed else None
        size = len(orjson.dumps(wire.get("structuredContent") or wire.get("content") or []))
        self._write(ctx, tool, arguments, started, outcome, error, size)
        return wire

    def _write(
        self,
        ctx: Any,
        tool: str,
        arguments: Any,
        started: float,
        outcome: str,
        error: str | None,
        result_chars: int,
    ) -> None:
        name, version = _client_info(ctx)
        self._log.write(
            {
                "time": datetime.now(UTC).isoformat(),
                "call_id": str(uuid.uuid4()),
                "client_name": name,
                "client_version": version,
                "tool": tool,
                "arguments": arguments,
                "outcome": outcome,
                "error": error,
                "duration_ms": round((time.monotonic() - started) * 1000, 3),
                "result_chars": result_chars,
            }
        )


def _out_of_scope(tool: str) -> Any:
    from mcp.types import CallToolResult, TextContent

    scope = TOOL_SCOPES[tool]
    flag = "--sql" if scope == "sql" else f"--allow {scope}"
    message = f"Refused: {tool} is outside this server's scopes; start refiner mcp with {flag}"
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _wire(result: Any) -> dict[str, Any]:
    """The result as sent: middleware may see a model (a refusal) or the serialized dict."""
    if hasattr(result, "model_dump"):
        dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json")
        return dumped
    return dict(result)


def _client_info(ctx: Any) -> tuple[str | None, str | None]:
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    if info is None:
        return None, None
    return info.name, info.version


def _text_of(wire: Mapping[str, Any]) -> str:
    return " ".join(
        block.get("text", "") for block in wire.get("content") or [] if isinstance(block, dict)
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[:MAX_ERROR_CHARS] + "..."
