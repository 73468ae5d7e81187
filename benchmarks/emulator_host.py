"""Child-process side of `EmulatorProcess`: serve a seeded emulator, obey commands on stdin.

Prints one JSON line with `base_url` and `api_key` once the server listens. Then reads JSON
commands, one per line, and answers each with one JSON line:
`{"op": "faults", "latency_ms": 100, "rate_limit_per_second": 60}` (0 / null switch them off),
`{"op": "clear_log"}`, `{"op": "requests"}` (every logged request: method, path, status, at),
`{"op": "rendered"}` (pages rendered so far: the page cache's misses).
End of stdin stops the server.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig


def _handle(emulator: Emulator, command: dict[str, Any]) -> Any:
    op = command.pop("op")
    if op == "faults":
        rate = command.get("rate_limit_per_second") or None
        emulator.faults.configure(
            latency_ms=float(command.get("latency_ms", 0.0)),
            rate_limit_per_second=rate,
            rate_limit_burst=rate,
        )
        return {"ok": True}
    if op == "clear_log":
        emulator.request_log.clear()
        return {"ok": True}
    if op == "requests":
        return [
            {"method": e.method, "path": e.path, "status": e.status, "at": e.at}
            for e in list(emulator.request_log)
        ]
    if op == "rendered":
        return emulator.store.pages.misses
    raise ValueError(f"unknown command {op!r}")


def main() -> int:
    """Start the emulator described by argv[1], then serve commands until stdin closes."""
    config = json.loads(sys.argv[1])
    emulator = Emulator(
        seed=SeedConfig(**config["seed"]), page_cache_bytes=int(config["page_cache_mb"]) * 2**20
    ).start()
    sys.stdout.write(json.dumps({"base_url": emulator.base_url, "api_key": DEFAULT_API_KEY}) + "\n")
    sys.stdout.flush()
    try:
        for line in sys.stdin:
            if line.strip():
                sys.stdout.write(json.dumps(_handle(emulator, json.loads(line))) + "\n")
                sys.stdout.flush()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
