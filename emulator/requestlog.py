"""The request log: every API request as the emulator saw it, for exact assertions in tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, overload

REDACTED = "REDACTED"
_SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key"})


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One API request: `path` is without /v1, `params` merged query+body (api_key redacted),
    `status` what was answered (0 when the connection was dropped), `at` time.monotonic() at
    arrival, `headers` lower-cased with Authorization redacted."""

    method: str
    path: str
    params: dict[str, Any]
    status: int
    at: float
    headers: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict."""
        return {
            "method": self.method,
            "path": self.path,
            "params": self.params,
            "status": self.status,
            "at": self.at,
            "headers": self.headers,
        }


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Lower-cased headers with secrets replaced by REDACTED."""
    return {
        name.lower(): (REDACTED if name.lower() in _SECRET_HEADERS else value)
        for name, value in headers.items()
    }


def redact_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters with `api_key` replaced by REDACTED."""
    if "api_key" not in params:
        return params
    return {**params, "api_key": REDACTED}


class RequestLog:
    """Thread-safe, list-like log of LoggedRequest entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[LoggedRequest]:
        """A snapshot of the entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def filter(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Entries with this method and/or path."""
        return [
            entry
            for entry in self.entries()
            if (method is None or entry.method == method) and (path is None or entry.path == path)
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.entries())

    @overload
    def __getitem__(self, index: int) -> LoggedRequest: ...
    @overload
    def __getitem__(self, index: slice) -> list[LoggedRequest]: ...
    def __getitem__(self, index: int | slice) -> LoggedRequest | list[LoggedRequest]:
        return self.entries()[index]
