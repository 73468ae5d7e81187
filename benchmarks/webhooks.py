"""The webhook receiver suite (issue 18 §9): `refiner listen` in its own process on DuckDB.

- sustained: deliveries acknowledged per second, closed loop, SUSTAINED_CONCURRENCY requests
  in flight over keep-alive connections; also the receiver's CPU time per delivery (Linux
  /proc), which bounds the rate a free core would sustain;
- ack latency: open loop at ACK_RATE deliveries/s for ACK_SECONDS, p50 and p99 of the time
  from sending a delivery to its 2xx;
- queryable: open loop at QUERY_RATE/s; a reader takes the DuckDB file's writer lock (as
  every process on the file does) every READER_POLL seconds and notes when each delivery
  first appears in `refiner_raw.webhook_events`; p50 and p95 of send -> visible.
Every delivery is a distinct Refiner-shaped "Completed Survey" body.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

SECRET = "benchmark-webhook-secret"
SUSTAINED_CONCURRENCY = 32
ACK_RATE = 200.0
ACK_SECONDS = 10.0
QUERY_RATE = 50.0
QUERY_SECONDS = 10.0
READER_POLL = 0.1
OPEN_LOOP_CONNECTIONS = 64


def run(args: Any) -> dict[str, Any]:
    """Run the three measurements against one receiver; figures in ms and deliveries/s."""
    work = Path(args.work_dir) / "webhooks"
    work.mkdir(parents=True, exist_ok=True)
    database = work / "bench.duckdb"
    sustained_count = 2000 if args.quick else 6000
    with _Listener(work, database) as listener:
        before = listener.cpu_seconds()
        sustained = asyncio.run(_sustained(listener.port, sustained_count))
        cpu_ms = (listener.cpu_seconds() - before) / sustained_count * 1000
        acks = asyncio.run(_open_loop(listener.port, ACK_RATE, ACK_SECONDS))
        _drain(database, sustained_count + len(acks))
        queryable = _queryable(listener.port, database)
    return {
        "sustained_deliveries": sustained_count,
        "sustained_per_second": round(sustained, 1),
        "ack_rate": ACK_RATE,
        "ack_p50_ms": round(_percentile([a for a, _, _ in acks], 50) * 1000, 2),
        "ack_p99_ms": round(_percentile([a for a, _, _ in acks], 99) * 1000, 2),
        "ack_path_cpu_ms_per_delivery": round(cpu_ms, 3),
        "queryable_rate": QUERY_RATE,
        "queryable_samples": len(queryable),
        "queryable_p50_ms": round(_percentile(queryable, 50) * 1000, 1),
        "queryable_p95_ms": round(_percentile(queryable, 95) * 1000, 1),
    }


def body() -> bytes:
    """A distinct 'Completed Survey' delivery shaped as refiner-api.md §8."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    return json.dumps(
        {
            "uuid": str(uuid.uuid4()),
            "project_uuid": "bench-project",
            "remote_id": f"user-{uuid.uuid4().hex[:8]}",
            "email": None,
            "display_name": "",
            "first_seen_at": now,
            "last_seen_at": now,
            "attributes": {"form_submissions_count": "3", "plan": "pro"},
            "segments": [],
            "account": None,
            "triggered_event": "Completed Survey",
            "form": {"uuid": "bench-form", "name": "NPS"},
            "response": {
                "uuid": str(uuid.uuid4()),
                "first_shown_at": now,
                "last_shown_at": now,
                "show_counter": "1",
                "first_data_reception_at": now,
                "last_data_reception_at": now,
                "completed_at": now,
                "data": {"nps": 7, "why": "Fast and simple"},
                "tags": [],
            },
        }
    ).encode()


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs deliveries. Hand-written so that the
    load generator, which shares the machine's cores with the receiver, spends about a tenth
    of the CPU per request that httpx would (measured: 4 ms per request with httpx)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, content: bytes) -> tuple[int, bytes]:
        head = (
            f"POST /webhooks/refiner?token={SECRET} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"content-type: application/json\r\ncontent-length: {len(content)}\r\n\r\n"
        )
        self._writer.write(head.encode() + content)
        status_line = await self._reader.readline()
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self._reader.readexactly(length)

    def close(self) -> None:
        self._writer.close()


async def _sustained(port: int, count: int) -> float:
    bodies = [body() for _ in range(count)]
    connections = [await _Connection.open(port) for _ in range(SUSTAINED_CONCURRENCY)]

    async def worker(connection: _Connection) -> None:
        while bodies:
            status, _ = await connection.post(bodies.pop())
            if status != 200:
                raise RuntimeError(f"receiver answered {status}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return count / elapsed


async def _open_loop(port: int, rate: float, seconds: float) -> list[tuple[float, str, float]]:
    """Send at `rate`/s for `seconds`; (ack latency, delivery id, send time) of each one."""
    total = int(rate * seconds)
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(OPEN_LOOP_CONNECTIONS):
        pool.put_nowait(await _Connection.open(port))

    async def one(at: float) -> tuple[float, str, float]:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        content = body()
        sent = time.perf_counter()
        connection = await pool.get()
        status, answer = await connection.post(content)
        pool.put_nowait(connection)
        if status != 200:
            raise RuntimeError(f"receiver answered {status}")
        return time.perf_counter() - sent, str(json.loads(answer)["delivery_id"]), sent

    start = time.perf_counter() + 0.2
    results = await asyncio.gather(*(one(start + i / rate) for i in range(total)))
    while not pool.empty():
        pool.get_nowait().close()
    return list(results)


def _queryable(port: int, database: Path) -> list[float]:
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    stop = threading.Event()
    reader = threading.Thread(target=_read_loop, args=(database, seen_at, stop))
    reader.start()
    try:
        for _, delivery, sent in asyncio.run(_open_loop(port, QUERY_RATE, QUERY_SECONDS)):
            sent_at[delivery] = sent
        deadline = time.monotonic() + 30
        while set(sent_at) - set(seen_at) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join()
    missing = set(sent_at) - set(seen_at)
    if missing:
        raise RuntimeError(f"{len(missing)} deliveries never became queryable")
    return [seen_at[d] - sent_at[d] for d in sent_at]


def _read_loop(database: Path, seen_at: dict[str, float], stop: threading.Event) -> None:
    import duckdb

    from pipelines.warehouse_lock import WarehouseBusy, writer_turn

    while not stop.wait(READER_POLL):
        if not database.exists():
            continue
        try:
            with writer_turn(database, wait=False), duckdb.connect(str(database), True) as db:
                rows = db.execute("select delivery_id from refiner_raw.webhook_events").fetchall()
        except (WarehouseBusy, duckdb.CatalogException):
            continue
        now = time.perf_counter()
        for (delivery,) in rows:
            seen_at.setdefault(delivery, now)


def _drain(database: Path, expected: int, timeout: float = 60.0) -> None:
    """Wait until the flusher has written `expected` deliveries, so phases do not overlap."""
    seen: dict[str, float] = {}
    stop = threading.Event()
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        stop.clear()
        thread = threading.Thread(target=_read_loop, args=(database, seen, stop))
        thread.start()
        time.sleep(0.5)
        stop.set()
        thread.join()


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


class _Listener:
    """`refiner listen` in its own process on a free port; SIGTERM on exit."""

    def __init__(self, work: Path, database: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = [
            sys.executable, "-m", "pipelines.cli", "listen", "--port", str(self.port),
            "--duckdb-path", str(database), "--spool", str(work / "spool" / "spool.sqlite"),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Listener:
        env = {**os.environ, "SOURCES__REFINER__WEBHOOK_SECRET": SECRET}
        self._process = subprocess.Popen(self._args, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("refiner listen did not start")

    def cpu_seconds(self) -> float:
        """CPU time of the receiver process (the acknowledgement path; the flusher is a
        child process and not counted)."""
        assert self._process is not None
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc_info: object) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=120)
