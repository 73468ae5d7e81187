"""Helpers of the CLI tests: the result of an in-process run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str
