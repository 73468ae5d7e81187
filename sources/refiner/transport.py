"""The HTTP side of `RefinerClient`: auth, rate limiting, retries and decoding, over httpx.

- Auth is a Bearer header added by an httpx `Auth`; the key never goes into a URL, a log
  line, a repr or an error message (bodies are redacted before they are kept).
- Every attempt waits for a shared, thread-safe sliding-window rate limiter right before its
  headers are written (httpcore's `trace` hook): no 1-second window sees more than
  `requests_per_minute / 60` attempts start; a second's budget goes out in ten groups about
  0.1 s apart (`ratelimit.RateLimiter`; each window carries a 50 ms margin for jitter).
- Retries (tenacity): exponential backoff with jitter on 429 (waiting at least `Retry-After`),
  5xx, connection/read/write/protocol errors, timeouts, and 2xx bodies that are not the
  documented shape. Other 4xx fail at once. After `max_attempts` the last error is raised.

httpx's pool, the limiter and the stats are thread-safe, and pagination state lives in each
walk, so one transport may be shared by many threads. Creating one does no I/O.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any, Self, TypeVar

import httpx
import msgspec
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.stop import StopBaseT
from tenacity.wait import wait_exponential, wait_random

from sources.refiner import validation as check
from sources.refiner.errors import (
    RateLimitedError,
    RefinerError,
    ServerError,
    TransportError,
    ValidationError,
    error_from_response,
    redact,
    redact_url,
)
from sources.refiner.models import Model, decode
from sources.refiner.pagination import (
    MalformedBodyError,
    Page,
    PageInfo,
    Paginator,
    parse_object,
    parse_page,
)
from sources.refiner.ratelimit import RateLimiter
from sources.refiner.settings import (
    BACKOFF_INITIAL_SECONDS,
    BACKOFF_MAX_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
)

# Retry warnings are the client's: callers (pipelines.load) filter this logger by name.
logger = logging.getLogger("sources.refiner.client")

M = TypeVar("M", bound=Model)
T = TypeVar("T")
P = TypeVar("P", bound=PageInfo)
_USER_AGENT = "refiner-dlt/0.1 (+httpx)"


class _BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer <key>`; its repr never shows the key."""

    def __init__(self, api_key: str) -> None:
        self._header = f"Bearer {api_key}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(api_key=***)"


class ClientStats:
    """Thread-safe counters for one client, for load summaries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._throttled_seconds = 0.0

    @property
    def requests(self) -> int:
        """HTTP attempts sent, retries included."""
        return self._requests

    @property
    def retries(self) -> int:
        """Attempts that failed and were retried."""
        return self._retries

    @property
    def throttled_seconds(self) -> float:
        """Total time callers waited for the rate limiter."""
        return self._throttled_seconds

    def record_request(self) -> None:
        """Count one attempt."""
        with self._lock:
            self._requests += 1

    def record_throttled(self, seconds: float) -> None:
        """Add time an attempt waited for the rate limiter."""
        with self._lock:
            self._throttled_seconds += seconds

    def record_retry(self) -> None:
        """Count one retry."""
        with self._lock:
            self._retries += 1

    def snapshot(self) -> dict[str, float]:
        """All counters at one instant."""
        with self._lock:
            return {
                "requests": self._requests,
                "retries": self._retries,
                "throttled_seconds": round(self._throttled_seconds, 3),
            }

    def __repr__(self) -> str:
        return f"ClientStats({self.snapshot()})"


class Transport:
    """Sends one operation at a time with auth, rate limiting and retries; `RefinerClient`
    builds its typed methods on it (the constructor's arguments are documented there)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        rate_limiter: RateLimiter | None = None,
        backoff_initial: float = BACKOFF_INITIAL_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
        retry_budget_seconds: float | None = None,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValidationError(
                "RefinerClient: the API key is empty; set SOURCES__REFINER__API_KEY or "
                "api_key under [sources.refiner] in .dlt/secrets.toml"
            )
        if not base_url.startswith(("http://", "https://")):
            raise ValidationError(
                f"RefinerClient: base_url {redact_url(base_url)!r} must start with http:// or "
                "https://, e.g. https://api.refiner.io/v1"
            )
        if max_attempts < 1:
            raise ValidationError(f"RefinerClient: max_attempts is {max_attempts}; use 1 or more")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self._stop: StopBaseT = stop_after_attempt(max_attempts)
        if retry_budget_seconds is not None:
            self._stop = self._stop | stop_before_delay(retry_budget_seconds)
        self.rate_limiter = rate_limiter or RateLimiter(requests_per_minute)
        self.stats = ClientStats()
        self._backoff = wait_exponential(multiplier=backoff_initial, max=backoff_max) + wait_random(
            0, backoff_initial
        )
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            auth=_BearerAuth(api_key),
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _walk(
        self,
        path: str,
        params: dict[str, Any],
        page_length: int,
        paginator: Paginator,
        decode: Callable[[httpx.Response], P],
    ) -> Iterator[P]:
        base = {**params, "page_length": page_length}
        request_params = {**base, **paginator.first()}
        while True:
            page = self._request("GET", path, params=request_params, decode=decode)
            yield page
            following = paginator.next(page)
            if following is None:
                return
            request_params = {**base, **following}

    def _model(self, model: type[M], payload: Any) -> M:
        try:
            return decode(model, payload)
        except msgspec.ValidationError as error:
            raise ServerError(
                f"Refiner sent a {model.__name__} that does not match the documented shape: "
                f"{redact(str(error), self._api_key)}"
            ) from None

    @staticmethod
    def _object(response: httpx.Response) -> dict[str, Any]:
        return parse_object(response.content)

    @staticmethod
    def _page(response: httpx.Response) -> Page:
        return parse_page(response.content, url=redact_url(response.request.url))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        decode: Callable[[httpx.Response], T],
    ) -> T:
        """Send one operation with rate limiting and retries; return the decoded body."""
        retrying = Retrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(self._is_retryable),
            before_sleep=self._before_retry,
            reraise=True,
        )
        query = check.query_params(params or {})
        content = (
            None
            if body is None
            else orjson.dumps(
                {k: v for k, v in body.items() if v is not None},
                option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z,
            )
        )
        try:
            return retrying(self._attempt, method, path, query, content, decode)
        except RefinerError as error:
            attempts = retrying.statistics.get("attempt_number", 1)
            if attempts > 1:
                error.after_attempts(attempts)
            raise

    def _attempt(
        self,
        method: str,
        path: str,
        query: tuple[tuple[str, str], ...],
        content: bytes | None,
        decode: Callable[[httpx.Response], T],
    ) -> T:
        self.stats.record_request()
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = self._http.request(
                method,
                path,
                params=query,
                content=content,
                headers=headers,
                extensions={"trace": self._on_trace},
            )
        except httpx.TransportError as error:
            raise TransportError(
                f"Could not complete the request to Refiner: {type(error).__name__}: "
                f"{redact(str(error), self._api_key) or 'no details'}",
                method=method,
                url=redact_url(f"{self.base_url}/{path}"),
            ) from error
        if not response.is_success:
            raise error_from_response(response, secret=self._api_key)
        try:
            return decode(response)
        except MalformedBodyError as error:
            raise ServerError(
                f"Refiner answered {response.status_code} with a malformed body: {error}",
                method=method,
                url=redact_url(response.request.url),
                status=response.status_code,
                body=redact(response.content[:2000].decode("utf-8", "replace"), self._api_key),
            ) from None

    def _on_trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: wait for the rate limiter right before the request's headers
        are written, on the connection that sends them, and tell it when they are out. Time
        spent getting a connection from the pool, or a late write, then cannot push a request
        into the next window at the server."""
        if event == "http11.send_request_headers.started":
            self.stats.record_throttled(self.rate_limiter.acquire())
        elif event == "http11.send_request_headers.complete":
            self.rate_limiter.sent()

    def _is_retryable(self, error: BaseException) -> bool:
        if isinstance(error, RateLimitedError):
            return error.retry_after is None or error.retry_after <= self.max_retry_after
        return isinstance(error, ServerError | TransportError)

    def _wait(self, state: RetryCallState) -> float:
        backoff = self._backoff(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return max(backoff, error.retry_after)
        return backoff

    def _before_retry(self, state: RetryCallState) -> None:
        self.stats.record_retry()
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        status = getattr(error, "status", None) or type(error).__name__
        logger.warning(
            "Refiner %s %s failed (%s); retry %d of %d in %.2fs",
            getattr(error, "method", "?"),
            getattr(error, "url", "?"),
            status,
            state.attempt_number,
            self.max_attempts - 1,
            wait,
        )
