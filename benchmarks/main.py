"""`benchmarks/run`: refiner-dlt against physical limits and peer connectors (issue 5 §3).

For each dataset size an emulator is started in its own process and every page is prefetched
once; naive, refiner-dlt and refiner-dlt-all then run once each, outside the figures, so that
every round reads pages the emulator has already rendered. Then, round after round, every
contender runs once in a fresh interpreter against a fresh DuckDB file: the limits (L_parse,
L_sink, L_http), the peers (`naive`, `dlt-default`) and refiner-dlt. Interleaving the rounds
puts each figure in the same run as its references; each figure is the median of the rounds.

The suites after that reuse the same emulator: the incremental no-op run, `refiner digest` on the
loaded warehouse, the run under latency and a rate limit, peak memory, and the reverse sync.
Targets are evaluated in `benchmarks.targets`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import machine, suites, webhooks
from benchmarks.report import Target, targets_table, throughput_table
from benchmarks.targets import evaluate

WORK_DIR = Path(__file__).resolve().parent / ".work"
RESULTS_FILE = Path(__file__).resolve().parent / "results.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; `--quick` picks small sizes, the default is the full run."""
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10k responses only, about two minutes"
    )
    parser.add_argument(
        "--with-1m",
        action="store_true",
        help="add the 1M-response dataset: one plain `refiner load` (time, memory) and the no-op",
    )
    parser.add_argument(
        "--sizes", type=_sizes, help="comma-separated response counts, e.g. 10000,100000"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        help="request budget R (req/s) for the latency suite; repeatable",
    )
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--reverse-diff", type=int, help="unchanged traits to diff")
    parser.add_argument("--reverse-push", type=int, help="changed traits to push")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["peers", "noop", "digest", "latency", "reverse", "webhooks"],
        help="leave a suite out (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also write a cProfile of one refiner-dlt load per size",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR)
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [10_000] if args.quick else [10_000, 100_000]
        if args.with_1m:
            args.sizes.append(1_000_000)
    if args.rate is None:
        args.rate = [60.0] if args.quick else [60.0, 10.0]
    if args.reverse_diff is None:
        args.reverse_diff = 10_000 if args.quick else 100_000
    if args.reverse_push is None:
        args.reverse_push = 1_000 if args.quick else 10_000
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    """Run every suite, print the tables, write results.json."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine.describe(),
        "mode": "quick" if args.quick else "full",
        "config": {
            "sizes": args.sizes,
            "runs": args.runs,
            "rates": args.rate,
            "latency_ms": args.latency_ms,
            "reverse_diff": args.reverse_diff,
            "reverse_push": args.reverse_push,
            "skip": args.skip,
            "with_1m": args.with_1m,
        },
        "sizes": {},
    }
    for size in args.sizes:
        results["sizes"][str(size)] = suites.run_size(size, args)
    if "reverse" not in args.skip:
        results["reverse_sync"] = suites.run_reverse(args)
    if "webhooks" not in args.skip:
        results["webhooks"] = webhooks.run(args)
    results["machine"]["load_average_end"] = machine.load_average()
    results["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    targets: list[Target] = evaluate(results, args)
    results["targets"] = [t.as_dict() for t in targets]
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    _print_summary(results, targets, args.output)
    return 0


def _print_summary(results: dict[str, Any], targets: list[Target], output: Path) -> None:
    info = results["machine"]
    sys.stdout.write(
        f"\nMachine: {info['cpu_count']} x {info['cpu_model']}, {info['memory_gb']} GB, "
        f"Python {info['python']}; load average {info['load_average_start']} -> "
        f"{info['load_average_end']}\n\n"
    )
    sys.stdout.write(throughput_table(results["sizes"]) + "\n\n")
    sys.stdout.write(targets_table(targets) + "\n\n")
    sys.stdout.write(f"Results: {output} ({results['elapsed_seconds']} s)\n")


if __name__ == "__main__":
    sys.exit(main())
