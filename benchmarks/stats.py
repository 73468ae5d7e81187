"""Figures: repeated measurements of one contender, summarised by their median."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from benchmarks.procs import ChildResult


@dataclass
class Figure:
    """Every run of one contender on one dataset; rates are per unit, from the median.

    `units` is what the work is counted in: responses for loads, rows for the reverse sync.
    """

    name: str
    units: int
    seconds: list[float] = field(default_factory=list)
    process_seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    server_cpu_seconds: list[float | None] = field(default_factory=list)
    server_rendered_pages: list[int | None] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        result: ChildResult,
        server_cpu_seconds: float | None = None,
        rendered_pages: int | None = None,
    ) -> None:
        """Record one run: the child's own timing, its process wall time and peak memory, the
        CPU time the emulator spent serving it (it shares the machine's cores) and the pages
        it rendered for it rather than served from its cache; None where not observed."""
        self.server_cpu_seconds.append(server_cpu_seconds)
        self.server_rendered_pages.append(rendered_pages)
        self.seconds.append(float(result.report["seconds"]))
        self.process_seconds.append(result.wall_seconds)
        self.peak_rss_mb.append(result.peak_rss_mb)
        self.extra.append({k: v for k, v in result.report.items() if k != "seconds"})

    @property
    def median_seconds(self) -> float:
        """Median of the timed sections."""
        return statistics.median(self.seconds)

    @property
    def responses_per_second(self) -> float:
        """Units of the dataset divided by the median time."""
        return self.units / self.median_seconds if self.median_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Every run and the summary, for results.json."""
        return {
            "name": self.name,
            "units": self.units,
            "runs": len(self.seconds),
            "seconds": [round(s, 4) for s in self.seconds],
            "median_seconds": round(self.median_seconds, 4),
            "responses_per_second": round(self.responses_per_second, 1),
            "process_seconds": [round(s, 3) for s in self.process_seconds],
            "peak_rss_mb": [round(m, 1) for m in self.peak_rss_mb],
            "server_cpu_seconds": [
                None if s is None else round(s, 2) for s in self.server_cpu_seconds
            ],
            "server_rendered_pages": self.server_rendered_pages,
            "max_peak_rss_mb": round(max(self.peak_rss_mb), 1) if self.peak_rss_mb else None,
            "reports": self.extra,
        }


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return statistics.median(values)
