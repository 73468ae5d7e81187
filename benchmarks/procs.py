"""Run one measured task in a child process and record its wall time and peak memory.

Each task runs in a fresh interpreter so that it never shares the GIL, the heap or imported
modules with the harness or with another task. The child reports its own timings as one JSON
line on stdout (see `benchmarks.tasks`); the parent adds the process wall time and the peak
resident set size of the child's whole process tree, sampled from /proc, combined with the
exact `ru_maxrss` figures the child reports for itself and for its own children.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_POLL_SECONDS = 0.02


@dataclass
class ChildResult:
    """What one child process reported, plus what the parent observed from outside."""

    report: dict[str, Any]
    wall_seconds: float
    peak_tree_rss_mb: float
    returncode: int
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_rss_mb(self) -> float:
        """Largest of the sampled tree RSS and the child's exact self/children maxima."""
        return max(
            self.peak_tree_rss_mb,
            float(self.report.get("ru_maxrss_self_mb", 0.0)),
            float(self.report.get("ru_maxrss_children_mb", 0.0)),
        )


class TaskFailed(RuntimeError):
    """A child task exited non-zero or printed no report."""


def _children_of(pid: int) -> list[int]:
    kids: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text()
            kids.extend(int(k) for k in text.split())
    except OSError:
        return kids
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE_SIZE


def tree_rss_bytes(root: int) -> int:
    """Sum of the resident set sizes of `root` and all of its descendants."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(_children_of(pid))
    return total


class _RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop_event.wait(_POLL_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600.0,
    expect_report: bool = True,
) -> ChildResult:
    """Run `argv`, sample its tree RSS, and parse the last stdout line as its JSON report.

    The child imports this checkout's packages first (PYTHONPATH), so a benchmark run from a
    separate worktree measures that worktree's code.
    """
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=str(cwd or REPO_ROOT),
        text=True,
    )
    sampler = _RssSampler(proc.pid)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TaskFailed(f"{argv[:4]} timed out after {timeout:.0f} s") from None
    finally:
        sampler.stop()
    wall = time.perf_counter() - started
    report: dict[str, Any] = {}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if lines:
        report = json.loads(lines[-1])
    if proc.returncode != 0 or (expect_report and not report):
        raise TaskFailed(f"{' '.join(argv[:5])} exited {proc.returncode}:\n{stderr[-3000:]}")
    return ChildResult(
        report=report,
        wall_seconds=wall,
        peak_tree_rss_mb=sampler.peak / 2**20,
        returncode=proc.returncode,
        stderr_tail=stderr[-2000:],
    )


def run_task(name: str, config: Mapping[str, Any], **kwargs: Any) -> ChildResult:
    """Run `benchmarks.tasks <name>` with `config` in a fresh interpreter."""
    argv = [sys.executable, "-m", "benchmarks.tasks", name, json.dumps(dict(config))]
    return run_child(argv, **kwargs)
