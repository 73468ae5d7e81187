"""The Refiner emulator in its own process, so it never shares the GIL with what is measured.

`EmulatorProcess` starts `python -m benchmarks.emulator_host` with a seed, reads the base URL it
prints, and drives it with one-line JSON commands on its stdin: faults (latency, token-bucket
rate limit), the request log and the count of rendered pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks.procs import REPO_ROOT


@dataclass(frozen=True)
class LoggedRequest:
    """One request the emulator saw."""

    method: str
    path: str
    status: int
    at: float


class EmulatorProcess:
    """A seeded emulator in a child process; use as a context manager."""

    def __init__(self, seed: dict[str, Any], *, page_cache_mb: int = 4096) -> None:
        self.seed = seed
        self.page_cache_mb = page_cache_mb
        self.base_url = ""
        self.api_key = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.emulator_host",
                json.dumps({"seed": self.seed, "page_cache_mb": self.page_cache_mb}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(REPO_ROOT),
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            text=True,
        )
        ready = self._read()
        self.base_url, self.api_key = ready["base_url"], ready["api_key"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _read(self) -> Any:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator process exited (code {self._proc.poll()})")
        return json.loads(line)

    def _call(self, op: str, **options: Any) -> Any:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **options}) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the emulator process has used so far."""
        assert self._proc is not None
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rendered_pages(self) -> int:
        """Pages the emulator has rendered so far (its page cache's misses); a page served
        from the cache was rendered earlier and costs the server almost nothing."""
        return int(self._call("rendered"))

    def set_faults(self, *, latency_seconds: float = 0.0, rate_per_second: float = 0.0) -> None:
        """Fixed latency on every request and a token-bucket limit of one second's burst
        (0 switches either off)."""
        self._call(
            "faults", latency_ms=latency_seconds * 1000, rate_limit_per_second=rate_per_second
        )

    def clear_log(self) -> None:
        """Forget the requests seen so far."""
        self._call("clear_log")

    def requests(self) -> list[LoggedRequest]:
        """Every request since the last `clear_log`, oldest first."""
        return [
            LoggedRequest(e["method"], e["path"], e["status"], e["at"])
            for e in self._call("requests")
        ]


def count_by_path(requests: list[LoggedRequest]) -> dict[str, int]:
    """Requests per API path, e.g. {"/responses": 1, "/contacts": 1}."""
    return dict(Counter(r.path for r in requests))


def max_in_window(requests: list[LoggedRequest], window: float = 1.0) -> int:
    """The most requests that arrived within any half-open window of `window` seconds."""
    times = sorted(r.at for r in requests)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
