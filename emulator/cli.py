"""Serve the emulator from a terminal: shared by `refiner emulator` and `python -m emulator`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from emulator.app import DEFAULT_API_KEY, Emulator
from emulator.seed import SeedConfig


@dataclass(frozen=True)
class ServeOptions:
    """Everything `serve` needs; `api_key=None` means the default key."""

    host: str = "127.0.0.1"
    port: int = 8765
    seed: SeedConfig = field(default_factory=SeedConfig)
    api_key: str | None = None
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_limit: float | None = None
    rate_limit_burst: float | None = None
    error_rate: float = 0.0
    page_cache_mb: int = 256
    prewarm: bool = False


def build(options: ServeOptions) -> Emulator:
    """Generate the data and configure faults (not started)."""
    emulator = Emulator(
        options.seed,
        api_keys=(options.api_key or DEFAULT_API_KEY,),
        host=options.host,
        port=options.port,
        page_cache_bytes=options.page_cache_mb * 1024 * 1024,
    )
    emulator.faults.configure(
        latency_ms=options.latency_ms,
        latency_jitter_ms=options.latency_jitter_ms,
        rate_limit_per_second=options.rate_limit,
        rate_limit_burst=options.rate_limit_burst,
        error_rate=options.error_rate,
    )
    return emulator


def serve(options: ServeOptions, say: Callable[[str], None] = print) -> None:
    """Start the emulator, print how to reach it, serve until Ctrl-C."""
    emulator = build(options)
    emulator.start()
    if options.prewarm:
        emulator.prewarm("/responses")
        emulator.prewarm("/contacts")
    key_text = DEFAULT_API_KEY if options.api_key is None else "(the key given with --api-key)"
    store = emulator.store
    say(
        f"Refiner emulator serving {len(store.response_records)} responses, "
        f"{len(store.contact_records)} contacts"
    )
    say(f"base URL: {emulator.base_url}")
    say(f"API key:  {key_text}")
    say(f"admin:    {emulator.admin_url}")
    say("Press Ctrl-C to stop.")
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        say("Stopped.")


def parse_args(argv: Sequence[str] | None = None) -> ServeOptions:
    """Options of `python -m emulator` (same names as `refiner emulator`)."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--forms", type=int, default=6)
    parser.add_argument("--segments", type=int, default=5)
    parser.add_argument("--responses", type=int, default=10000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second")
    parser.add_argument("--rate-limit-burst", type=float, default=None)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--page-cache-mb", type=int, default=256)
    parser.add_argument("--prewarm", action="store_true")
    args = parser.parse_args(argv)
    return ServeOptions(
        host=args.host,
        port=args.port,
        seed=SeedConfig(
            seed=args.seed,
            contacts=args.contacts,
            accounts=args.accounts,
            forms=args.forms,
            segments=args.segments,
            responses=args.responses,
            days=args.days,
        ),
        api_key=args.api_key,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        rate_limit=args.rate_limit,
        rate_limit_burst=args.rate_limit_burst,
        error_rate=args.error_rate,
        page_cache_mb=args.page_cache_mb,
        prewarm=args.prewarm,
    )
