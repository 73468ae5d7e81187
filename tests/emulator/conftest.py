"""Helpers for the emulator contract tests: a plain httpx client (not our client)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulator import Emulator


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    """httpx client on the emulator's /v1 with the Bearer key."""
    with httpx.Client(
        base_url=emulator.base_url,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=10,
    ) as client:
        yield client
