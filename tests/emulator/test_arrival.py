"""A request is dated when its first byte reached the emulator, however late it is handled."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from emulator import Emulator


def test_a_request_is_dated_by_its_first_byte_not_by_its_handling(emulator: Emulator) -> None:
    """The request line arrives, the headers follow 0.3 s later: the log dates the request
    by the request line, as a rate limiter at the server's edge would count it."""
    url = urlsplit(emulator.base_url)
    with socket.create_connection((url.hostname, url.port)) as connection:
        sent = time.monotonic()
        connection.sendall(b"GET /v1/ HTTP/1.1\r\n")
        time.sleep(0.3)
        connection.sendall(
            f"Host: {url.netloc}\r\nAuthorization: Bearer {emulator.api_key}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        reply = connection.makefile("rb").readline()
    assert reply.startswith(b"HTTP/1.1 200"), reply
    (entry,) = emulator.request_log.entries()
    assert 0 <= entry.at - sent < 0.15, f"dated {entry.at - sent:.3f} s after the request line"
