"""The one error tree of the Refiner client.

`RefinerError` is the root. Subclasses exist only where callers act differently:

- `AuthError`: the key is missing, malformed or unknown (401, or 404 with Refiner's
  "API key not valid or does not exist" body). Never retried; fix the key.
- `NotFoundError`: the addressed contact, form, segment or response does not exist (404).
- `ValidationError`: the request was rejected as invalid (400/422), or the client refused
  to send it because an argument is missing or wrong. Never retried.
- `RateLimitedError`: 429 after the retry budget was spent.
- `ServerError`: 5xx after the retry budget was spent, or a 2xx whose body is not the
  documented shape (HTML, truncated JSON, `items` missing).
- `TransportError`: the server could not be reached or the connection broke (connect,
  read, write, protocol errors, timeouts) after the retry budget was spent.

Every error carries the HTTP method, the redacted URL, the status (None when no response
arrived) and a truncated body. The API key never appears in any of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Annotations only: a reshape worker imports this module (through pagination.py) and
    # never makes a request, so it does not pay for importing httpx (about 0.2 s).
    import httpx

BODY_PREVIEW_CHARS = 300
REDACTED = "***"
_SECRET_PARAMS = re.compile(r"(?i)([?&](?:api_key|key|token|secret)=)[^&#]*")
_UNKNOWN_KEY_MESSAGE = "API key not valid or does not exist"


class RefinerError(Exception):
    """Base class. `str(error)` is one readable line with no secrets in it."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        body: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.method = method
        self.url = redact_url(url) if url else None
        self.status = status
        self.body = truncate(body) if body else None
        self.request_id = request_id
        self.message = message
        self.attempts = 1
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.method and self.url:
            where = f"{self.method} {self.url}"
            parts.append(f"({where} -> {self.status})" if self.status else f"({where})")
        if self.body:
            parts.append(f"body: {self.body}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._render()!r})"

    def after_attempts(self, attempts: int) -> RefinerError:
        """Record in the message that the client gave up after `attempts` tries; returns self."""
        self.attempts = attempts
        self.message = f"{self.message} (gave up after {attempts} attempts)"
        self.args = (self._render(),)
        return self


class AuthError(RefinerError):
    """The API key was refused. Check SOURCES__REFINER__API_KEY or .dlt/secrets.toml."""


class NotFoundError(RefinerError):
    """The addressed record does not exist."""


class ValidationError(RefinerError):
    """The request is invalid; it was rejected by Refiner or never sent."""


class RateLimitedError(RefinerError):
    """Refiner kept answering 429 after every allowed attempt."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(RefinerError):
    """Refiner failed (5xx) or answered with a body that is not the documented shape."""


class TransportError(RefinerError):
    """No usable HTTP response: connect, read or protocol failure, or a timeout."""


def redact_url(url: str | httpx.URL) -> str:
    """Return `url` with credentials and secret-bearing query parameters masked."""
    text = str(url)
    text = re.sub(r"//[^/@]*@", "//", text)
    return _SECRET_PARAMS.sub(lambda m: m.group(1) + REDACTED, text)


def redact(text: str, *secrets: str | None) -> str:
    """Replace every occurrence of each non-empty secret in `text`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def truncate(text: str, limit: int = BODY_PREVIEW_CHARS) -> str:
    """Shorten `text` to `limit` characters, marking the cut."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def error_from_response(response: httpx.Response, *, secret: str | None = None) -> RefinerError:
    """Map a non-2xx response to the matching error class.

    This is the only place that turns statuses into errors. The body is redacted with
    `secret` and truncated; a 404 whose body says the key is unknown is an `AuthError`.
    """
    status = response.status_code
    body = redact(response.text, secret)
    context: dict[str, Any] = {
        "method": response.request.method,
        "url": redact_url(response.request.url),
        "status": status,
        "body": body,
        "request_id": response.headers.get("x-request-id"),
    }
    reason = redact(_reason(response) or response.reason_phrase or "error", secret)
    if status == 401 or status == 403 or (status == 404 and _UNKNOWN_KEY_MESSAGE in body):
        return AuthError(
            f"Authentication failed: {reason}. Check the Refiner API key "
            "(SOURCES__REFINER__API_KEY or .dlt/secrets.toml).",
            **context,
        )
    if status == 404:
        return NotFoundError(f"Not found: {reason}", **context)
    if status == 429:
        return RateLimitedError(
            f"Rate limited by Refiner: {reason}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            **context,
        )
    if status >= 500:
        return ServerError(f"Refiner server error: {reason}", **context)
    return ValidationError(f"Request rejected: {reason}", **context)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header given in seconds; None if absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _reason(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    if isinstance(payload, dict):
        for key in ("error", "message"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return None
