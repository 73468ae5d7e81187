"""The secret witness itself: it must find the sentinel key wherever a leak could hide, or
every "no leak" verdict of the suite would be empty."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest

from tests.secrets import SENTINEL_API_KEY, SENTINEL_WEBHOOK_SECRET, SecretWitness


@pytest.mark.parametrize(
    "content",
    [
        f"Authorization: Bearer {SENTINEL_API_KEY}".encode(),
        gzip.compress(f'{{"api_key": "{SENTINEL_API_KEY}"}}'.encode()),
        base64.b64encode(f"{SENTINEL_API_KEY}:".encode()),
        f"https://x/v1?api_key={SENTINEL_API_KEY}&page=2".encode(),
        f"secret={SENTINEL_WEBHOOK_SECRET}".encode(),
    ],
    ids=["plain", "gzip", "basic-auth", "query-string", "webhook-secret"],
)
def test_witness_finds_a_planted_secret(content: bytes, tmp_path: Path) -> None:
    (tmp_path / "pipelines" / "p").mkdir(parents=True)
    (tmp_path / "pipelines" / "p" / "trace.pickle").write_bytes(content)
    seen = SecretWitness()
    seen.folder(tmp_path)
    assert seen.leaks() == [str(tmp_path / "pipelines" / "p" / "trace.pickle")]


def test_witness_checks_texts_and_exceptions() -> None:
    seen = SecretWitness()
    seen.text("stdout", "all good")
    assert seen.leaks() == []
    try:
        raise ValueError(f"boom {SENTINEL_API_KEY}")
    except ValueError as error:
        seen.error("exception", error)
    assert seen.leaks() == ["exception"]
