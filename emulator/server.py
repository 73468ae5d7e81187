"""The HTTP layer: a threading HTTP/1.1 keep-alive server with explicit Content-Length, so faults
can drop, reset or truncate a connection exactly. `/v1/...` is the API, `/_emulator/...` admin.

The server receives what it serves: a `Backend` (store, faults, keys, request log) for the API
and an `AdminHandler` for the admin paths (emulator/app.py wires both).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from emulator.arrival import StampedReader
from emulator.dispatch import Outcome, process
from emulator.errors import ApiError
from emulator.faults import Faults
from emulator.params import parse_params
from emulator.requestlog import LoggedRequest, RequestLog, redact_headers, redact_params
from emulator.store import Store

API_PREFIX = "/v1"
ADMIN_PREFIX = "/_emulator"

AdminHandler = Callable[[str, str, dict[str, Any]], tuple[int, Any]]
"""(method, path under /_emulator, params) -> (status, JSON payload); raises ApiError."""


class Backend(Protocol):
    """What the API paths serve: the records, the fault rules, the accepted keys and the log."""

    @property
    def store(self) -> Store: ...

    @property
    def faults(self) -> Faults: ...

    @property
    def api_keys(self) -> frozenset[str]: ...

    @property
    def request_log(self) -> RequestLog: ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threading server that remembers open connections so `close_all` can end keep-alives."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend, admin: AdminHandler) -> None:
        self.backend = backend
        self.admin = admin
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        """Register (or forget) a client connection."""
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_all(self) -> None:
        """Shut every client connection so handler threads end."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer
    rfile: StampedReader  # type: ignore[assignment]

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Requests are dated by the kernel's receive time (emulator/arrival.py).
        self.rfile.close()
        self.rfile = StampedReader(self.connection)
        self.server.track(self.connection, True)

    def handle_one_request(self) -> None:
        self.rfile.start_request()
        super().handle_one_request()

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; the request log records API calls."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        arrived = self.rfile.request_arrived
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith(ADMIN_PREFIX):
            self._admin(url.path[len(ADMIN_PREFIX) :] or "/", url.query, body)
            return
        if url.path != API_PREFIX and not url.path.startswith(API_PREFIX + "/"):
            self._send(Outcome(404, orjson.dumps({"error": "Not found"})))
            return
        path = url.path[len(API_PREFIX) :] or "/"
        headers = {name.lower(): value for name, value in self.headers.items()}
        backend = self.server.backend
        try:
            params = parse_params(url.query, body, headers.get("content-type", ""))
        except ApiError as error:
            outcome = Outcome(error.status, orjson.dumps(error.body))
            self._send(outcome)
            self._log(arrived, path, {}, headers, outcome.status)
            return
        decision = backend.faults.decide(self.command, path, params, arrived)
        if decision.delay > 0 and self.server.stopping.wait(decision.delay):
            return
        outcome = process(
            backend.store, backend.api_keys, self.command, path, params, headers, decision
        )
        self._log(arrived, path, params, headers, outcome.status)
        self._send(outcome)

    def _log(
        self,
        arrived: float,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str],
        status: int,
    ) -> None:
        self.server.backend.request_log.append(
            LoggedRequest(
                method=self.command,
                path=path,
                params=redact_params(params),
                status=status,
                at=arrived,
                headers=redact_headers(headers),
            )
        )

    def _admin(self, path: str, query: str, body: bytes) -> None:
        try:
            params = parse_params(query, body, self.headers.get("Content-Type", ""))
            status, payload = self.server.admin(self.command, path, params)
        except ApiError as error:
            status, payload = error.status, error.body
        except (KeyError, ValueError, TypeError) as error:
            status, payload = 400, {"error": f"{type(error).__name__}: {error}"}
        self._send(Outcome(status, orjson.dumps(payload)))

    def _send(self, outcome: Outcome) -> None:
        if outcome.action in ("reset", "drop"):
            self._break(outcome.action)
            return
        try:
            phrase = HTTPStatus(outcome.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [
            f"HTTP/1.1 {outcome.status} {phrase}",
            f"Content-Type: {outcome.content_type}",
            f"Content-Length: {len(outcome.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in outcome.headers.items())
        body = outcome.body
        if outcome.action == "truncate":
            self.close_connection = True
            body = body[: len(body) // 2]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True
            return
        if outcome.action == "truncate":
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _break(self, action: str) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            if action == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
