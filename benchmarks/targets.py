"""Issue 5 §3 targets, evaluated on one results.json. The thresholds are the issue's own.

A target that the chosen mode does not measure is reported as n/a with a note saying which
mode measures it; nothing is skipped silently.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.report import Target

MB_PER_GB = 1024
# "Flat from 10k to 1M": the no-op wall time at the largest size may exceed the smallest
# size's by at most this much (seconds) -- start-up noise on a busy 2-core machine.
NOOP_FLAT_TOLERANCE_SECONDS = 0.5
# The reporting resource re-fetches a window on purpose; the request cap does not apply to it.
REFETCH_PATHS = frozenset({"/reporting"})
# Peak memory is that of the plain `refiner load` of every resource.
MEMORY_FIGURES = ("refiner-dlt-all",)


def _peer_size(sizes: dict[str, Any]) -> str | None:
    with_peers = [s for s, b in sizes.items() if "dlt-default" in b["figures"]]
    return max(with_peers, key=int) if with_peers else None


def _rate(sizes: dict[str, Any], size: str, name: str) -> float:
    return float(sizes[size]["figures"][name]["responses_per_second"])


def _full_load(sizes: dict[str, Any]) -> list[Target]:
    size = _peer_size(sizes)
    if size is None:
        note = "run without --skip peers"
        return [
            Target(n, r, "not measured", None, note)
            for n, r in (
                ("full load vs dlt-default", ">= 5x"),
                ("full load vs naive", ">= 1.5x"),
                ("full load vs limits", ">= 25% of min(L_parse, L_sink)"),
            )
        ]
    ours = _rate(sizes, size, "refiner-dlt")
    dlt_default, naive = _rate(sizes, size, "dlt-default"), _rate(sizes, size, "naive")
    limit = min(_rate(sizes, size, "L_parse"), _rate(sizes, size, "L_sink"))
    at = f"at {int(size):,} responses"
    return [
        Target(
            "full load vs dlt-default",
            ">= 5x dlt-default responses/s",
            f"{ours / dlt_default:.2f}x ({ours:,.0f} vs {dlt_default:,.0f}/s {at})",
            ours >= 5 * dlt_default,
        ),
        Target(
            "full load vs naive",
            ">= 1.5x naive (with answer + attribute tables)",
            f"{ours / naive:.2f}x ({ours:,.0f} vs {naive:,.0f}/s {at})",
            ours >= 1.5 * naive,
        ),
        Target(
            "full load vs limits",
            ">= 25% of min(L_parse, L_sink)",
            f"{ours / limit:.1%} ({ours:,.0f} vs {limit:,.0f}/s {at})",
            ours >= 0.25 * limit,
        ),
    ]


def _latency(sizes: dict[str, Any]) -> list[Target]:
    targets: list[Target] = []
    for size, block in sizes.items():
        for rate, point in block.get("latency", {}).items():
            share = point["share_of_bound"]
            targets.append(
                Target(
                    f"latency {point['latency_ms']:g} ms, R={rate} req/s",
                    ">= 85% of min(R x page_length, CPU ceiling)",
                    f"{point['responses_per_second']:,.0f}/s = {share:.0%} of "
                    f"{point['bound_responses_per_second']:,.0f}/s ({int(size):,} responses)",
                    share >= 0.85,
                )
            )
            worst = max(point["max_requests_in_1s"])
            throttled = sum(point["responses_429"])
            targets.append(
                Target(
                    f"rate R={rate} never exceeded",
                    "max requests in any 1 s <= R, no 429",
                    f"max {worst} in 1 s, {throttled} x 429",
                    worst <= float(rate) and throttled == 0,
                )
            )
    if not targets:
        targets.append(
            Target(
                "latency",
                ">= 85% of min(R x page_length, CPU ceiling)",
                "not measured",
                None,
                "run without --skip latency",
            )
        )
    return targets


def _noop(sizes: dict[str, Any]) -> list[Target]:
    measured = {s: b["noop"] for s, b in sizes.items() if "noop" in b}
    if not measured:
        return [
            Target(
                "incremental no-op",
                "<= 2 requests per resource",
                "not measured",
                None,
                "run without --skip noop",
            )
        ]
    size = "100000" if "100000" in measured else max(measured, key=int)
    noop = measured[size]
    worst = max(
        (
            (path, count)
            for run in noop["requests_by_path"]
            for path, count in run.items()
            if path not in REFETCH_PATHS
        ),
        key=lambda pair: pair[1],
        default=("-", 0),
    )
    at = f"{int(size):,} responses"
    extra = noop["median_seconds"] - noop["median_help_seconds"]
    targets = [
        Target(
            "no-op requests",
            "<= 2 requests per resource (reporting excepted)",
            f"max {worst[1]} ({worst[0]}) at {at}",
            worst[1] <= 2,
        ),
        Target(
            "no-op wall time",
            "within 2 s of `refiner --help`",
            f"{noop['median_seconds']:.2f} s vs {noop['median_help_seconds']:.2f} s "
            f"(+{extra:.2f} s) at {at}",
            extra <= 2.0,
        ),
    ]
    ordered = sorted(measured, key=int)
    if len(ordered) > 1:
        first, last = measured[ordered[0]], measured[ordered[-1]]
        growth = last["median_seconds"] - first["median_seconds"]
        targets.append(
            Target(
                "no-op flat",
                f"flat from {int(ordered[0]):,} to {int(ordered[-1]):,} "
                f"(+<= {NOOP_FLAT_TOLERANCE_SECONDS} s)",
                f"{first['median_seconds']:.2f} s -> {last['median_seconds']:.2f} s",
                growth <= NOOP_FLAT_TOLERANCE_SECONDS,
                "" if ordered[-1] == "1000000" else "1M only with --with-1m",
            )
        )
    return targets


def _memory(sizes: dict[str, Any]) -> list[Target]:
    def peak(size: str) -> float | None:
        figures = sizes.get(size, {}).get("figures", {})
        peaks = [figures[n]["max_peak_rss_mb"] for n in MEMORY_FIGURES if n in figures]
        return float(max(peaks)) if peaks else None

    at_1m, at_100k = peak("1000000"), peak("100000")
    if at_1m is None:
        largest = max(sizes, key=int)
        seen = peak(largest)
        measured = f"{seen:.0f} MB at {int(largest):,}" if seen is not None else "not measured"
        note = "measured by `benchmarks/run --with-1m`"
        return [
            Target("memory at 1M", "peak RSS <= 1 GB", measured, None, note),
            Target("memory growth", "1M peak <= 1.5x 100k peak", measured, None, note),
        ]
    targets = [Target("memory at 1M", "peak RSS <= 1 GB", f"{at_1m:.0f} MB", at_1m <= MB_PER_GB)]
    if at_100k is None:
        targets.append(
            Target(
                "memory growth",
                "1M peak <= 1.5x 100k peak",
                f"{at_1m:.0f} MB at 1M",
                None,
                "include 100000 in --sizes",
            )
        )
    else:
        targets.append(
            Target(
                "memory growth",
                "1M peak <= 1.5x 100k peak",
                f"{at_1m:.0f} MB vs {at_100k:.0f} MB ({at_1m / at_100k:.2f}x)",
                at_1m <= 1.5 * at_100k,
            )
        )
    return targets


def _reverse(results: dict[str, Any]) -> list[Target]:
    block = results.get("reverse_sync")
    if block is None:
        return [
            Target(
                "reverse sync",
                "diff <= 5 s, push <= 1.1 x n/R",
                "not measured",
                None,
                "run without --skip reverse",
            )
        ]
    rate = block["rate"]
    diff, push = block["diff"], block["push"]
    worst_window = max(block["push_max_requests_in_1s"])
    return [
        Target(
            f"reverse diff {diff['units']:,} unchanged",
            "<= 5 s and 0 requests",
            f"{diff['median_seconds']:.2f} s, {max(block['diff_requests'])} requests",
            diff["median_seconds"] <= 5.0 and max(block["diff_requests"]) == 0,
        ),
        Target(
            f"reverse push {push['units']:,} changed at R={rate:.3g}",
            f"<= 1.1 x n/R = {block['push_budget_seconds']:.1f} s, never above R",
            f"{push['median_seconds']:.2f} s, max {worst_window} req in 1 s",
            push["median_seconds"] <= block["push_budget_seconds"] and worst_window <= rate,
        ),
    ]


def _digest(sizes: dict[str, Any]) -> list[Target]:
    measured = {s: b["digest"] for s, b in sizes.items() if "digest" in b}
    if not measured:
        return [
            Target(
                "digest wall time",
                "<= 2 s beyond Python start-up",
                "not measured",
                None,
                "run without --skip digest",
            )
        ]
    size = max(measured, key=int)
    digest = measured[size]
    return [
        Target(
            "digest wall time",
            "<= 2 s beyond Python start-up (issue 19)",
            f"{digest['median_seconds']:.2f} s vs {digest['median_startup_seconds']:.2f} s "
            f"(+{digest['beyond_startup_seconds']:.2f} s; CPU {digest['median_cpu_seconds']:.2f} s)"
            f" at {int(size):,} responses",
            digest["beyond_startup_seconds"] <= 2.0,
            "" if size == "100000" else "the target is set at 100k",
        )
    ]


def _webhooks(results: dict[str, Any]) -> list[Target]:
    """Issue 18 §9: the receiver's acknowledgement rate and latencies."""
    block = results.get("webhooks")
    names = ("webhook deliveries acknowledged", "webhook ack p99 at 200/s", "delivery -> queryable")
    if block is None:
        return [
            Target(name, "see issue 18", "not measured", None, "run without --skip webhooks")
            for name in names
        ]
    return [
        Target(
            names[0],
            ">= 500 deliveries/s",
            f"{block['sustained_per_second']:,.0f}/s",
            block["sustained_per_second"] >= 500,
        ),
        Target(
            names[1],
            "p99 <= 50 ms",
            f"p50 {block['ack_p50_ms']:.1f} ms, p99 {block['ack_p99_ms']:.1f} ms",
            block["ack_p99_ms"] <= 50,
        ),
        Target(
            names[2],
            "p95 <= 2 s",
            f"p50 {block['queryable_p50_ms']:,.0f} ms, p95 {block['queryable_p95_ms']:,.0f} ms",
            block["queryable_p95_ms"] <= 2000,
        ),
    ]


def evaluate(results: dict[str, Any], args: argparse.Namespace) -> list[Target]:
    """Every target of issue 5 §3, in the issue's order."""
    sizes = results["sizes"]
    return [
        *_full_load(sizes),
        *_latency(sizes),
        *_noop(sizes),
        *_digest(sizes),
        *_memory(sizes),
        *_reverse(results),
        *_webhooks(results),
    ]
