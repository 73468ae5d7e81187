"""A settable clock: real UTC time until set, then frozen at the set instant until advanced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from emulator.timefmt import parse_instant, to_datetime


class Clock:
    """The emulator's notion of "now" for every side effect and default date range."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen: float | None = None
        self._listeners: list[Callable[[], None]] = []

    def timestamp(self) -> float:
        """Now as epoch seconds."""
        frozen = self._frozen
        return time.time() if frozen is None else frozen

    def seconds(self) -> int:
        """Now as whole epoch seconds (the resolution of every stored timestamp)."""
        return int(self.timestamp() // 1)

    def now(self) -> datetime:
        """Now as an aware UTC datetime."""
        return to_datetime(self.timestamp())

    def set(self, when: datetime | str | float) -> None:
        """Freeze the clock at `when` (naive datetimes and texts are UTC)."""
        with self._lock:
            if isinstance(when, datetime) and when.tzinfo is not None:
                self._frozen = when.timestamp()
            else:
                self._frozen = float(parse_instant(when))
        self._changed()

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, if negative); a running clock freezes first."""
        with self._lock:
            base = time.time() if self._frozen is None else self._frozen
            self._frozen = base + seconds
        self._changed()

    def resume(self) -> None:
        """Follow real time again."""
        with self._lock:
            self._frozen = None
        self._changed()

    def on_change(self, listener: Callable[[], Any]) -> None:
        """Call `listener` after every set/advance/resume (the store drops its caches)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
