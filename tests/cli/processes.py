"""Run the `refiner` CLI in a child process, with its output piped or on a pseudo-terminal.

Piped is how cron, `| jq` or `> log` see it; the pseudo-terminal is how a person sees it
(stdin and stdout are a terminal there, stderr stays a pipe).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REFINER = [sys.executable, "-m", "pipelines.cli"]


@dataclass(frozen=True)
class Finished:
    """Exit code and output of one child `refiner` process."""

    code: int
    stdout: str
    stderr: str


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without Refiner or destination settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.pop("NO_COLOR", None)
    env.update({"PYTHONPATH": str(REPO), "RUNTIME__DLTHUB_TELEMETRY": "false"})
    env.update(extra or {})
    return env


def run_piped(
    args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 240
) -> Finished:
    """`refiner <args>` with stdin empty and stdout/stderr pipes (no terminal anywhere)."""
    done = subprocess.run(
        [*REFINER, *args],
        env=child_env(env),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


def run_on_terminal(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    typed: str = "",
    timeout: float = 240,
) -> Finished:
    """`refiner <args>` with stdin and stdout on a pseudo-terminal; `typed` is typed in."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*REFINER, *args],
        env=child_env(env),
        cwd=REPO,
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(terminal)
    if typed:
        os.write(controller, typed.encode())
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(controller, chunks), daemon=True)
    reader.start()
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        reader.join(timeout=10)
        os.close(controller)
    return Finished(process.returncode, b"".join(chunks).decode(errors="replace"), stderr)


def _drain(controller: int, chunks: list[bytes]) -> None:
    """Read the terminal's output until the child closes it (Linux then raises EIO)."""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            return
        if not chunk:
            return
        chunks.append(chunk)
