"""`Emulator`: seeded store + HTTP server on a background thread + test controls."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from functools import partial
from types import TracebackType
from typing import Any

import orjson

from emulator import admin
from emulator.clock import Clock
from emulator.dispatch import process
from emulator.faults import Faults
from emulator.requestlog import RequestLog
from emulator.seed import SeedConfig, generate, project_uuid
from emulator.server import EmulatorHTTPServer
from emulator.store import Store
from emulator.webhooks import WebhookSender

DEFAULT_API_KEY = "5f2b7c1e-3d4a-11ee-9c1b-0242ac120002"
DEFAULT_PAGE_CACHE_BYTES = 256 * 1024 * 1024
LARGE_SEED_RESPONSES = 100_000


class Emulator:
    """A local Refiner API v1 on loopback.

    `seed` sizes the generated data; `api_keys` are accepted keys (any other well-formed key
    answers 404, as for a revoked key). `port=0` picks a free port. Controls: `.store`,
    `.clock`, `.faults`, `.request_log`; `.base_url` ends in `/v1`.
    """

    def __init__(
        self,
        seed: SeedConfig | None = None,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fault_seed: int | None = None,
        page_cache_bytes: int = DEFAULT_PAGE_CACHE_BYTES,
        project_name: str = "Production",
    ) -> None:
        self.seed = seed or SeedConfig()
        self.api_keys: frozenset[str] = frozenset(api_keys)
        self.host = host
        self._requested_port = port
        self.clock = Clock()
        self.store = Store(
            self.clock,
            project_uuid=project_uuid(self.seed),
            project_name=project_name,
            uuid_seed=self.seed.seed + 1,
            page_cache_bytes=page_cache_bytes,
        )
        generate(self.store, self.seed)
        if self.seed.responses >= LARGE_SEED_RESPONSES:
            # Keep later GC passes from rescanning a million long-lived records on every sort.
            gc.freeze()
        self.faults = Faults(self.seed.seed if fault_seed is None else fault_seed)
        self.request_log = RequestLog()
        self.webhooks = WebhookSender(self.store)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Emulator:
        """Bind and serve on a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = EmulatorHTTPServer(
            (self.host, self._requested_port), self, partial(admin.handle, self)
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"refiner-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        server, self._server = self._server, None
        self.webhooks.stop()
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Start and block until interrupted (Ctrl-C), then stop."""
        self.start()
        try:
            threading.Event().wait()
        finally:
            self.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        """The bound port (the requested one before start)."""
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        """`http://host:port`."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL, `http://host:port/v1`."""
        return self.root_url + "/v1"

    @property
    def admin_url(self) -> str:
        """The admin base URL, `http://host:port/_emulator`."""
        return self.root_url + "/_emulator"

    @property
    def api_key(self) -> str:
        """One accepted key (the default key when it is accepted)."""
        if DEFAULT_API_KEY in self.api_keys:
            return DEFAULT_API_KEY
        return sorted(self.api_keys)[0]

    # ------------------------------------------------------------------ benchmarks
    def prewarm(
        self,
        path: str = "/responses",
        params: dict[str, Any] | None = None,
        page_length: int = 1000,
    ) -> int:
        """Pre-render every cursor page of a list endpoint into the page cache; returns pages.

        Pages are cached under the exact parameters a client sends: `params` plus
        `page_length`, then `page_cursor` for every page after the first.
        """
        query: dict[str, Any] = {**(params or {}), "page_length": str(page_length)}
        headers = {"authorization": f"Bearer {self.api_key}"}
        pages = 0
        while True:
            outcome = process(self.store, self.api_keys, "GET", path, query, headers)
            if outcome.status != 200:
                raise ValueError(f"prewarm {path} answered {outcome.status}")
            pages += 1
            cursor = orjson.loads(outcome.body).get("pagination", {}).get("next_page_cursor")
            if not cursor:
                return pages
            query = {**query, "page_cursor": cursor}
