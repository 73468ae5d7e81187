"""Targets of issue 5 §3, evaluated on measured figures, and the printed results table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import median
from typing import Any


@dataclass
class Target:
    """One target: what it demands, the measured figure, and whether it was met.

    `passed` is None when the mode that was run does not measure it (for example the 1M
    memory target without `--with-1m`); `note` then says how to measure it.
    """

    name: str
    requirement: str
    measured: str
    passed: bool | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """For results.json."""
        return asdict(self)


def verdict(passed: bool | None) -> str:
    """PASS, FAIL or n/a."""
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def throughput_table(sizes: dict[str, dict[str, Any]]) -> str:
    """Responses/s per contender and size, with the ratio to refiner-dlt's figure."""
    rows: list[list[str]] = []
    for size, block in sizes.items():
        figures = block["figures"]
        ours = figures.get("refiner-dlt", {}).get("responses_per_second")
        for name, figure in figures.items():
            rate = figure["responses_per_second"]
            ratio = (
                f"{ours / rate:.2f}x" if ours and rate and not name.startswith("refiner") else ""
            )
            rows.append(
                [
                    size,
                    name,
                    f"{rate:,.0f}",
                    f"{figure['median_seconds']:.3f}",
                    str(figure["runs"]),
                    f"{figure['max_peak_rss_mb']:.0f}" if figure.get("max_peak_rss_mb") else "",
                    f"{median(figure['server_cpu_seconds']):.2f}",
                    ratio,
                ]
            )
    headers = [
        "responses",
        "contender",
        "responses/s",
        "median s",
        "runs",
        "peak MB",
        "emulator CPU s",
        "refiner-dlt is",
    ]
    return _table(headers, rows)


def targets_table(targets: list[Target]) -> str:
    """One line per target with its verdict."""
    rows = [[t.name, t.requirement, t.measured, verdict(t.passed)] for t in targets]
    return _table(["target", "requirement", "measured", "result"], rows)
