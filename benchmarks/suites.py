"""The measurement suites: throughput rounds, no-op run, digest, latency and rate limit, reverse
sync."""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks.dataset import Dataset, prefetch
from benchmarks.digest import digest_suite
from benchmarks.emulator_proc import EmulatorProcess, count_by_path, max_in_window
from benchmarks.procs import ChildResult, run_child, run_task
from benchmarks.stats import Figure, median

# Concurrency of L_http: the number of requests refiner-dlt keeps in flight (`max_workers`).
HTTP_CONCURRENCY = 4
# dlt-default needs minutes and gigabytes per round beyond this size (about 130 s and 5 GB at
# 100k on a quiet 2-core machine); the peers are measured up to it.
PEERS_MAX_RESPONSES = 100_000
# The latency suite runs on the largest dataset up to this size: at 10k, fixed start-up costs
# hide what concurrency does with the latency.
LATENCY_MAX_RESPONSES = 100_000
# From this size on, only one plain `refiner load` runs (for peak memory), not the rounds.
LARGE_RESPONSES = 1_000_000
SEED = 7
# The emulator's seed completes 174 of every 256 survey views (the rest are partial, dismissed
# or seen only); the seed is scaled so that the completed responses match the requested size.
COMPLETED_SHARE = 174 / 256
# `refiner-dlt` loads what the peers load (responses and contacts, plus the answer, attribute
# and segment tables built from them); `refiner-dlt-all` is a plain `refiner load` of every
# resource, whose reporting requests (one per day, type and form) are bound by the rate limit.
PEER_RESOURCES = ["responses", "contacts"]
# Contenders whose pages the prefetch does not render; each runs once before the rounds.
WARMED_UP = ("naive", "refiner-dlt", "refiner-dlt-all")


def seed_for(responses: int) -> dict[str, Any]:
    """Seed of a dataset that serves about `responses` completed responses (the API's default
    `include`), with contacts at 1:3 to them and accounts at 1:5 to contacts."""
    contacts = max(responses // 3, 1)
    return {
        "seed": SEED,
        "responses": math.ceil(responses / COMPLETED_SHARE),
        "contacts": contacts,
        "accounts": max(contacts // 5, 1),
    }


def _log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def _contenders(size: int, args: argparse.Namespace) -> list[str]:
    names = ["L_parse", "L_sink", "L_http"]
    if "peers" not in args.skip and size <= PEERS_MAX_RESPONSES:
        names += ["naive", "dlt-default"]
    return [*names, "refiner-dlt", "refiner-dlt-all"]


def _run_contender(
    name: str, emu: EmulatorProcess, data: Dataset | None, scratch: Path, profile: str | None
) -> ChildResult:
    scratch.mkdir(parents=True, exist_ok=True)
    common = {"base_url": emu.base_url, "api_key": emu.api_key, "profile": profile}
    database = str(scratch / "bench.duckdb")
    if name.startswith("refiner-dlt"):
        resources = None if name == "refiner-dlt-all" else PEER_RESOURCES
        return refiner_load(emu, scratch, resources, profile=profile)
    assert data is not None, f"{name} needs the prefetched dataset"
    if name == "L_parse":
        return run_task("parse", {"pages_file": str(data.pages_file), "profile": profile})
    if name == "L_sink":
        ndjson = {table: str(path) for table, path in data.ndjson.items()}
        return run_task("sink", {"ndjson": ndjson, "database": database, "profile": profile})
    if name == "L_http":
        return run_task(
            "http",
            {**common, "requests_file": str(data.requests_file), "concurrency": HTTP_CONCURRENCY},
        )
    if name == "naive":
        return run_task("naive", {**common, "database": database})
    if name == "dlt-default":
        # From a directory without `.dlt/`, so that only dlt's own defaults apply.
        return run_task(
            "dlt_default",
            {**common, "database": database, "pipelines_dir": str(scratch / "pipelines")},
            cwd=scratch,
        )
    raise ValueError(f"unknown contender {name!r}")


def refiner_load(
    emu: EmulatorProcess,
    scratch: Path,
    resources: list[str] | None,
    *,
    profile: str | None = None,
    requests_per_minute: float | None = None,
) -> ChildResult:
    """One `run_load` of `resources` (None: all) into `scratch`/bench.duckdb."""
    config = {
        "resources": resources,
        "base_url": emu.base_url,
        "api_key": emu.api_key,
        "profile": profile,
        "database": str(scratch / "bench.duckdb"),
        "pipelines_dir": str(scratch / "pipelines"),
        "requests_per_minute": requests_per_minute,
    }
    return run_task("refiner_load", config)


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every suite that runs on one dataset size; returns its block of results.json."""
    directory = args.work_dir / str(size)
    _log(f"{size:,} responses: starting the emulator")
    with EmulatorProcess(seed_for(size)) as emu:
        if size >= LARGE_RESPONSES:
            block = _large_size(emu, directory)
        else:
            block = _rounds(size, emu, directory, args)
        loaded = directory / "last" / "refiner-dlt-all"
        if "noop" not in args.skip:
            block["noop"] = noop_suite(emu, loaded, args.runs)
        if "digest" not in args.skip and size == _latency_size(args.sizes) < LARGE_RESPONSES:
            block["digest"] = digest_suite(loaded, args.runs, _refiner_argv())
        if "latency" not in args.skip and size == _latency_size(args.sizes) < LARGE_RESPONSES:
            block["latency"] = latency_suite(
                emu, block["dataset"]["responses"], directory / "latency", args
            )
    shutil.rmtree(directory, ignore_errors=True)
    return block


def _measure(
    figure: Figure, name: str, emu: EmulatorProcess, data: Dataset | None, scratch: Path
) -> ChildResult:
    server_cpu, rendered = emu.cpu_seconds(), emu.rendered_pages()
    result = _run_contender(name, emu, data, scratch, None)
    server_cpu, rendered = emu.cpu_seconds() - server_cpu, emu.rendered_pages() - rendered
    figure.add(result, server_cpu, rendered)
    _log(
        f"{name}: {result.report['seconds']:.3f} s, {result.peak_rss_mb:.0f} MB, "
        f"emulator CPU {server_cpu:.2f} s, {rendered} pages rendered"
    )
    return result


def _rounds(
    size: int, emu: EmulatorProcess, directory: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Prefetch, warm up, then `args.runs` interleaved rounds of every contender."""
    data = prefetch(emu.base_url, emu.api_key, directory / "data")
    _log(f"prefetched {data.counts} in {data.pages} pages ({data.bytes / 2**20:.0f} MB)")
    names = _contenders(size, args)
    figures = {name: Figure(name, data.responses) for name in names}
    # The prefetch renders pages of 1,000; naive asks for pages of 100 and refiner-dlt for its
    # date windows (cut at UTC midnights, the newest read open-ended, so the same in every
    # round). One run of each, kept out of the figures (results.json's `warm_up`), renders
    # them, so every round reads pre-rendered pages and no figure carries the emulator's
    # rendering (5 s of its CPU in refiner-dlt's first round at 100k before).
    warm_up: dict[str, Figure] = {}
    for name in WARMED_UP:
        if name in names:
            _log(f"warm-up: {name} (renders its pages into the emulator's page cache)")
            warm_up[name] = Figure(name, data.responses)
            scratch = directory / "warmup" / name
            _measure(warm_up[name], name, emu, data, scratch)
            shutil.rmtree(scratch, ignore_errors=True)
    for round_number in range(args.runs):
        _log(f"round {round_number + 1}/{args.runs}")
        for name in names:
            last = round_number == args.runs - 1 and name == "refiner-dlt-all"
            scratch = directory / ("last" if last else f"r{round_number}") / name
            _measure(figures[name], name, emu, data, scratch)
            if not last:
                shutil.rmtree(scratch, ignore_errors=True)
    block: dict[str, Any] = {
        "dataset": {
            "responses": data.responses,
            "contacts": data.counts["contacts"],
            "pages": data.pages,
            "bytes": data.bytes,
        },
        "figures": {name: figure.as_dict() for name, figure in figures.items()},
        "warm_up": {name: figure.as_dict() for name, figure in warm_up.items()},
        "load_average": _load_average(),
    }
    if args.profile:
        block["profile"] = _profile(emu, data, directory / "profile", args.work_dir)
    return block


def _large_size(emu: EmulatorProcess, directory: Path) -> dict[str, Any]:
    """One plain `refiner load` of every resource: its time, and its peak memory."""
    name = "refiner-dlt-all"
    figure = Figure(name, 0)
    result = _measure(figure, name, emu, None, directory / "last" / name)
    rows = result.report["rows"]
    figure.units = int(rows.get("responses", 0))
    return {
        "dataset": {"responses": figure.units, "contacts": int(rows.get("contacts", 0))},
        "figures": {name: figure.as_dict()},
        "load_average": _load_average(),
        "note": "one run of the plain load only (memory target); limits and peers are not run",
    }


def _latency_size(sizes: list[int]) -> int:
    eligible = [s for s in sizes if s <= LATENCY_MAX_RESPONSES]
    return max(eligible) if eligible else min(sizes)


def _load_average() -> list[float]:
    from benchmarks.machine import load_average

    return load_average()


def _profile(emu: EmulatorProcess, data: Dataset, scratch: Path, work_dir: Path) -> dict[str, Any]:
    """cProfile one refiner-dlt load; the stats file outlives the run under `work_dir`."""
    kept = work_dir / "profiles" / f"refiner-dlt-{data.responses}.pstats"
    kept.parent.mkdir(parents=True, exist_ok=True)
    result = refiner_load(emu, scratch, PEER_RESOURCES, profile=str(kept))
    return {"seconds": result.report["seconds"], "pstats": str(kept)}


def noop_suite(emu: EmulatorProcess, loaded: Path, runs: int) -> dict[str, Any]:
    """`refiner load` again on an up-to-date warehouse: requests per path and process time."""
    help_seconds = [
        run_child(_refiner_argv("--help"), expect_report=False).wall_seconds for _ in range(runs)
    ]
    noop_seconds: list[float] = []
    requests: list[dict[str, int]] = []
    for _ in range(runs):
        emu.clear_log()
        result = run_child(_refiner_load_argv(), env=refiner_env(emu, loaded), expect_report=False)
        noop_seconds.append(result.wall_seconds)
        requests.append(count_by_path(emu.requests()))
    _log(
        f"no-op: {median(noop_seconds):.2f} s (refiner --help {median(help_seconds):.2f} s), "
        f"requests {requests[-1]}"
    )
    return {
        "help_seconds": [round(s, 3) for s in help_seconds],
        "median_help_seconds": round(median(help_seconds), 3),
        "seconds": [round(s, 3) for s in noop_seconds],
        "median_seconds": round(median(noop_seconds), 3),
        "requests_by_path": requests,
    }


def _refiner_argv(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("refiner")), *args]


def _refiner_load_argv() -> list[str]:
    return _refiner_argv("load")


def refiner_env(emu: EmulatorProcess, scratch: Path) -> dict[str, str]:
    """Environment that points `refiner load` at the emulator and at `scratch`'s DuckDB."""
    return {
        "SOURCES__REFINER__BASE_URL": emu.base_url,
        "SOURCES__REFINER__API_KEY": emu.api_key,
        "DESTINATION__DUCKDB__CREDENTIALS": str(scratch / "bench.duckdb"),
        "DLT_DATA_DIR": str(scratch / "pipelines"),
    }


def latency_suite(
    emu: EmulatorProcess, responses: int, scratch: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Loads with `latency_ms` per request under each request budget R.

    Each round first runs the same load without latency or limit: the CPU ceiling, measured
    next to the figure it bounds.
    """
    points: dict[str, Any] = {}
    for rate in args.rate:
        figure = Figure(f"refiner-dlt R={rate:g}", responses)
        ceiling = Figure("refiner-dlt, no latency", responses)
        windows: list[int] = []
        throttled: list[int] = []
        for round_number in range(args.runs):
            run_dir = scratch / f"R{rate:g}-{round_number}"
            ceiling.add(refiner_load(emu, run_dir / "ceiling", PEER_RESOURCES))
            emu.set_faults(latency_seconds=args.latency_ms / 1000, rate_per_second=rate)
            emu.clear_log()
            figure.add(
                refiner_load(
                    emu, run_dir / "limited", PEER_RESOURCES, requests_per_minute=rate * 60
                )
            )
            log = emu.requests()
            emu.set_faults()
            windows.append(max_in_window(log))
            throttled.append(sum(1 for r in log if r.status == 429))
            shutil.rmtree(run_dir, ignore_errors=True)
        bound = min(rate * 1000, ceiling.responses_per_second)
        points[f"{rate:g}"] = {
            **figure.as_dict(),
            "rate": rate,
            "latency_ms": args.latency_ms,
            "cpu_ceiling": ceiling.as_dict(),
            "bound_responses_per_second": round(bound, 1),
            "share_of_bound": round(figure.responses_per_second / bound, 3),
            "max_requests_in_1s": windows,
            "responses_429": throttled,
        }
        _log(
            f"latency R={rate:g}: {figure.responses_per_second:,.0f} responses/s "
            f"({figure.responses_per_second / bound:.0%} of {bound:,.0f}), "
            f"max {max(windows)} req in 1 s, {sum(throttled)} x 429"
        )
    return points


def run_reverse(args: argparse.Namespace) -> dict[str, Any]:
    """Reverse sync: diff of unchanged traits (0 requests), push of changed traits at R."""
    from benchmarks.reverse import reverse_suite

    return reverse_suite(args)
