"""`refiner listen`: the webhook receiver (Starlette on uvicorn) and the process around it.

`POST /webhooks/refiner` answers, in this order:
- 401 when a secret is configured and no candidate token matches it. Candidates: the
  `token` query parameter, an `Authorization: Bearer` header, and the header named by
  `webhook_token_header`. Compared with hmac.compare_digest.
- 413 when the body exceeds MAX_BODY_BYTES (counted while the stream is read).
- 400 when the body is not JSON or not a Refiner webhook (the reason is logged, not sent).
- 403 when `webhook_project_uuid` is configured and the body names another project.
- 200 `{"status": "accepted" | "duplicate"}` once the delivery is committed to the spool.
- 503 when the spool cannot be written (nothing was acknowledged).
Nothing from a refused request is stored. `GET /healthz` answers 200 with counters.

The process: a spool writer (group commit), the flusher and the action runner start with
the server; on start they replay whatever an earlier process left unflushed or unplanned.
On SIGTERM or SIGINT uvicorn stops accepting and finishes requests in flight; then the
spool writer drains, the flusher writes everything spooled, the runner stops, and the
process exits 0. uvicorn's access log is off: it would print the query string, token and all.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelines.errors import ConfigError
from pipelines.events.payload import PayloadError, parse_body
from pipelines.events.spool import SpoolWriter

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from pipelines.events.service import EventsService, ServiceOptions

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
WEBHOOK_PATH = "/webhooks/refiner"


@dataclass(frozen=True)
class ReceiverSettings:
    """Who may deliver: the secret (None only with --insecure), an extra token header, and
    the project (environment) whose deliveries are accepted (None: any)."""

    secret: str | None = field(repr=False)
    token_header: str | None = None
    project_uuid: str | None = None


@dataclass
class Counters:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0


def create_app(settings: ReceiverSettings, writer: SpoolWriter, counters: Counters) -> Starlette:
    """The ASGI app: the webhook route and the health check, writing through `writer`."""
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def receive(request: Request) -> JSONResponse:
        refusal = _refusal(settings, request)
        if refusal is None:
            try:
                body = await _read_limited(request)
            except ClientDisconnect:
                logger.info("a sender disconnected before its body was read; nothing stored")
                return JSONResponse({"error": "incomplete body"}, status_code=400)
            refusal = _too_large() if body is None else None
        if refusal is not None:
            counters.refused += 1
            return refusal
        assert body is not None
        try:
            delivery = parse_body(body)
        except PayloadError as error:
            counters.refused += 1
            logger.warning("refused a delivery (400): %s", error)
            return JSONResponse({"error": "bad request"}, status_code=400)
        expected = settings.project_uuid
        if expected is not None and delivery.payload.project_uuid != expected:
            counters.refused += 1
            logger.warning("refused a delivery (403): another project_uuid")
            return JSONResponse({"error": "forbidden"}, status_code=403)
        try:
            new = await asyncio.wrap_future(writer.submit(delivery, body))
        except Exception:
            logger.exception("spool write failed; delivery not acknowledged")
            return JSONResponse({"error": "unavailable"}, status_code=503)
        if new:
            counters.accepted += 1
        else:
            counters.duplicates += 1
        status = "accepted" if new else "duplicate"
        return JSONResponse({"status": status, "delivery_id": delivery.delivery_id})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, **vars(counters)})

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def _refusal(settings: ReceiverSettings, request: Request) -> JSONResponse | None:
    from starlette.responses import JSONResponse

    if settings.secret is not None and not _authorized(settings, request):
        logger.warning("refused a delivery (401): no valid token")
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _too_large()
    return None


def _authorized(settings: ReceiverSettings, request: Request) -> bool:
    assert settings.secret is not None
    expected = settings.secret.encode()
    candidates = [request.query_params.get("token")]
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        candidates.append(authorization[7:].strip())
    if settings.token_header:
        candidates.append(request.headers.get(settings.token_header))
    matched = False
    for candidate in candidates:
        # Every candidate is compared, so timing does not tell which one was tried.
        matched |= candidate is not None and hmac.compare_digest(candidate.encode(), expected)
    return matched


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None as soon as it grows past MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> JSONResponse:
    from starlette.responses import JSONResponse

    logger.warning("refused a delivery (413): body over %d bytes", MAX_BODY_BYTES)
    return JSONResponse({"error": "payload too large"}, status_code=413)


LOOPBACK = ("127.0.0.1", "localhost", "::1")
MISSING_SECRET_HELP = (
    "No webhook secret: set SOURCES__REFINER__WEBHOOK_SECRET (or webhook_secret under "
    "[sources.refiner] in .dlt/secrets.toml), or pass --insecure to listen on 127.0.0.1 only"
)


def receiver_settings(host: str, *, insecure: bool) -> ReceiverSettings:
    """The receiver's settings from `[sources.refiner]`; ConfigError when it must not start."""
    from pipelines.events.service import configured

    secret = configured("webhook_secret")
    if secret is None and not insecure:
        raise ConfigError(MISSING_SECRET_HELP)
    if insecure and host not in LOOPBACK:
        raise ConfigError(f"--insecure listens on loopback only; use --host 127.0.0.1, not {host}")
    return ReceiverSettings(
        secret, configured("webhook_token_header"), configured("webhook_project_uuid")
    )


def serve(
    options: ServiceOptions,
    host: str,
    port: int,
    *,
    insecure: bool = False,
    announce: Callable[[str], None] = logger.warning,
) -> Counters:
    """Run `refiner listen` until SIGTERM/SIGINT; returns the counters at exit."""
    import uvicorn

    from pipelines.events.service import EventsService

    settings = receiver_settings(host, insecure=insecure)
    counters = Counters()
    with EventsService(options) as service:
        assert service.writer is not None
        app = create_app(settings, service.writer, counters)
        config = uvicorn.Config(
            app, host=host, port=port, access_log=False, log_level="warning", lifespan="off"
        )
        announce(
            f"refiner listen: http://{host}:{port}{WEBHOOK_PATH} ({len(service.rules)} rules, "
            f"spool {options.spool_path})"
        )
        with _signals_end_serving_only():
            uvicorn.Server(config).run()
    return counters


@contextmanager
def _signals_end_serving_only() -> Iterator[None]:
    """After a graceful shutdown uvicorn raises the signal it caught again, to the handler
    that was installed before it ran; the default one would end the process before the
    spool is flushed. This handler lets `serve` finish its shutdown and return."""
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def running(
    service: EventsService, settings: ReceiverSettings, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve the receiver of `service` on a background thread (for the demo and tests);
    yields its base URL. `port=0` picks a free port."""
    import socket
    import threading
    import time

    import uvicorn

    assert service.writer is not None
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
    app = create_app(settings, service.writer, Counters())
    config = uvicorn.Config(
        app, host=host, port=port, access_log=False, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="receiver", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join()
