"""The one exception endpoints raise to answer with an error status and body (§7, §11.8)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error reply: `status` and a JSON body, `{"error": message}` unless `body` is given."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = body if body is not None else {"error": message}


def not_found(what: str) -> ApiError:
    """404 `{"error": "<What> not found"}`."""
    return ApiError(404, f"{what} not found")


def bad_request(reason: str) -> ApiError:
    """400 `{"error": reason}`."""
    return ApiError(400, reason)
