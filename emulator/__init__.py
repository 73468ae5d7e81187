"""A local, faithful Refiner API v1 emulator for tests, the demo and benchmarks.

Written only from `refiner-api.md`; imports nothing from `sources/` or `pipelines/`.
"""

from emulator.app import DEFAULT_API_KEY, Emulator
from emulator.clock import Clock
from emulator.faults import KINDS as FAULT_KINDS
from emulator.faults import Faults, Rule, Settings
from emulator.requestlog import LoggedRequest, RequestLog
from emulator.seed import SeedConfig
from emulator.store import Store

__all__ = [
    "DEFAULT_API_KEY",
    "FAULT_KINDS",
    "Clock",
    "Emulator",
    "Faults",
    "LoggedRequest",
    "RequestLog",
    "Rule",
    "SeedConfig",
    "Settings",
    "Store",
]
