"""When a request reached the server: the kernel's receive time, not the handler's.

A handler thread learns of a request only once it is scheduled and has parsed the headers. On
a busy machine (the emulator shares two cores with the load it serves) that can be tens of
milliseconds late, and late by different amounts for different requests. Counting requests per
second on those times shows bursts that never happened on the wire. A real API's rate limiter
sits at its edge and sees arrival times. So the emulator reads each connection with `recvmsg`,
asks the kernel to stamp every chunk it receives (SO_TIMESTAMPNS), and dates a request by the
chunk that holds its first byte. Where the kernel gives no stamp, the read time stands in.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Final

SO_TIMESTAMPNS: Final = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux's option (35 where Python does not name it); its control message has the same type."""
_CHUNK: Final = 65536
_ANCILLARY: Final = socket.CMSG_SPACE(16)


class StampedReader:
    """The incoming byte stream of one connection, in place of the handler's `rfile`.

    `readline` and `read` behave like a buffered binary file's. `start_request()` marks that
    the next bytes read begin a request; `request_arrived` is then the monotonic time at which
    the chunk holding its first byte reached this host.
    """

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._buffer = bytearray()
        self._head_arrived = time.monotonic()
        self._starting = False
        self.request_arrived = self._head_arrived
        with contextlib.suppress(OSError):
            connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def start_request(self) -> None:
        """The next read starts a request: date it by the chunk its first byte arrives in."""
        self._starting = True

    def readline(self, limit: int = -1) -> bytes:
        """Bytes up to and including the next newline, at most `limit`; b"" at end of stream."""
        while True:
            self._date_request()
            end = self._buffer.find(b"\n", 0, limit if limit >= 0 else None)
            if end >= 0:
                return self._take(end + 1)
            if 0 <= limit <= len(self._buffer) or not self._fill():
                return self._take(len(self._buffer) if limit < 0 else limit)

    def read(self, size: int = -1) -> bytes:
        """`size` bytes (fewer at end of stream); everything until the end with -1."""
        self._date_request()
        while (size < 0 or len(self._buffer) < size) and self._fill():
            pass
        return self._take(len(self._buffer) if size < 0 else size)

    def close(self) -> None:
        """The connection is closed by its handler; nothing to release here."""

    def _date_request(self) -> None:
        if not self._starting:
            return
        if not self._buffer and not self._fill():
            return
        self._starting = False
        self.request_arrived = self._head_arrived

    def _fill(self) -> bool:
        """Receive one chunk; False at end of stream."""
        try:
            data, ancillary, _, _ = self._connection.recvmsg(_CHUNK, _ANCILLARY)
        except ConnectionError:
            return False
        if not data:
            return False
        if not self._buffer:
            self._head_arrived = _arrival(ancillary)
        self._buffer += data
        return True

    def _take(self, count: int) -> bytes:
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        return taken


def _arrival(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive stamp (wall clock) as a time.monotonic() value."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return time.monotonic() - (time.time() - seconds - nanoseconds / 1e9)
    return time.monotonic()
