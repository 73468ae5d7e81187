"""Fixtures for client tests over real HTTP.

Helpers live in tests/client/helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from sources.refiner.client import RefinerClient
from tests.client.helpers import MakeClient


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Factory for clients with fast backoff; all are closed afterwards."""
    clients: list[RefinerClient] = []

    def factory(emulator: Emulator, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> RefinerClient:
        options: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05, **kwargs}
        client = RefinerClient(api_key, emulator.base_url, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
