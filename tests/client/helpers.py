"""Helpers of the client tests: the factory type of clients bound to an emulator."""

from __future__ import annotations

from collections.abc import Callable

from sources.refiner.client import RefinerClient

MakeClient = Callable[..., RefinerClient]
