"""Sentinel secrets, and the witness that proves none of them leaked.

A scenario runs with the sentinel API key and webhook secret; `SecretWitness` collects every text
and folder the scenario produced (output, log records, exceptions, pipelines dir, load packages,
the warehouse file) and fails naming each place where any form of a secret appears.
"""

from __future__ import annotations

import base64
import gzip
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# Well-formed (UUID-shaped) so the emulator accepts it; distinctive so a grep cannot miss it.
SENTINEL_API_KEY = "f00dfeed-5ec2-4e7a-b1e5-5e7e1a1c0de5"
SENTINEL_WEBHOOK_SECRET = "whsec-5e7e1a1-b1e5-webhook-sentinel-c0de5"


def secret_forms(secret: str) -> tuple[str, ...]:
    """The ways a secret can leak: as is, URL-quoted, and inside an HTTP Basic header."""
    basic = base64.b64encode(f"{secret}:".encode()).decode()
    return (secret, quote(secret, safe=""), basic.rstrip("="))


@dataclass
class SecretWitness:
    """Collects every text and folder a scenario produced and asserts no secret is in them."""

    secrets: tuple[str, ...] = (SENTINEL_API_KEY, SENTINEL_WEBHOOK_SECRET)
    texts: list[tuple[str, str]] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)

    def text(self, label: str, value: str | bytes | None) -> None:
        """Remember one text (stdout, stderr, exception message, log row) to scan."""
        if value is None:
            return
        decoded = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        self.texts.append((label, decoded))

    def error(self, label: str, error: BaseException) -> None:
        """Remember an exception's message, repr and the reprs of its causes."""
        rendered = "".join(traceback.format_exception(error))
        self.text(label, f"{error}\n{error!r}\n{rendered}")

    def folder(self, path: Path) -> None:
        """Remember a folder whose every file (pipelines dir, logs) is scanned, gz included."""
        self.folders.append(path)

    def leaks(self) -> list[str]:
        """Where any form of any secret was found; empty when clean."""
        forms = [form.encode() for secret in self.secrets for form in secret_forms(secret)]
        found: list[str] = []
        for label, value in self.texts:
            encoded = value.encode("utf-8", "replace")
            found.extend(f"{label}" for form in forms if form in encoded)
        for folder in self.folders:
            if not folder.exists():
                continue
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                data = _read_maybe_gzip(path)
                found.extend(str(path) for form in forms if form in data)
        return sorted(set(found))

    def assert_clean(self) -> None:
        """Fail naming every place a secret leaked to."""
        leaks = self.leaks()
        assert not leaks, f"a sentinel secret leaked into: {leaks}"


def _read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return data + gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data
