"""What a reshape worker process runs before its first page (the pool's initializer).

It is a module of its own because a spawned worker imports the initializer's module before it
runs it, and `reshape_pool` imports `reshape`, which imports pandas: this module imports
nothing heavy.
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """Answers every import of pandas with ModuleNotFoundError, as if it were not installed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def start_worker(level: int) -> None:
    """Set up logging at `level`, and keep pandas out of the worker.

    pyarrow imports pandas, when it is installed, on its first conversion of Python objects,
    and `reshape` imports it up front for the extracting process's threads. A worker builds no
    DataFrame, and importing pandas is a large part of a worker's start. pyarrow and `reshape`
    both read the ModuleNotFoundError as "pandas is not installed".
    A worker whose main module already imported pandas keeps it.
    """
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _WithoutPandas())
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
