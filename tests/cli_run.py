"""`refiner` run in-process, as the tests see it: the exit code and what it printed."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class CliRun:
    """Exit code, standard output and standard error of one `refiner` invocation."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Both streams, standard output first."""
        return self.stdout + self.stderr

    @property
    def error_lines(self) -> list[str]:
        """The non-blank lines of standard error."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_refiner(
    *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> CliRun:
    """Run `refiner <args>` in-process with `env` set and `stdin` as standard input, both
    restored afterwards; capture what it prints."""
    from pipelines.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        if stdin is not None:
            patch.setattr(sys, "stdin", io.StringIO(stdin))
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    return CliRun(code, out.getvalue(), err.getvalue())
