"""`refiner emulator`: serve a seeded local Refiner API until Ctrl-C."""

from __future__ import annotations

import typer


def emulator(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8765, help="Port to bind (0 picks a free one)."),
    seed: int = typer.Option(7, help="Seed of the generated data."),
    contacts: int = typer.Option(2000, help="Contacts to generate."),
    accounts: int = typer.Option(200, help="Accounts to generate."),
    forms: int = typer.Option(6, help="Forms to generate (incl. one draft, one archived)."),
    segments: int = typer.Option(5, help="Segments to generate."),
    responses: int = typer.Option(10000, help="Survey views/responses to generate."),
    days: int = typer.Option(90, help="Days of history, ending at the start of today (UTC)."),
    api_key: str | None = typer.Option(
        None, "--api-key", help="Accept this key instead of the default emulator key."
    ),
    latency_ms: float = typer.Option(0.0, help="Fixed latency added to every API request."),
    latency_jitter_ms: float = typer.Option(0.0, help="Random extra latency, up to this."),
    rate_limit: float | None = typer.Option(
        None, help="Token-bucket limit in requests/second; excess requests get 429."
    ),
    rate_limit_burst: float | None = typer.Option(None, help="Bucket size (default: 1 s)."),
    error_rate: float = typer.Option(0.0, help="Share of requests answered 500/503."),
    page_cache_mb: int = typer.Option(256, help="Memory for pre-rendered pages."),
    prewarm: bool = typer.Option(False, help="Pre-render every responses/contacts page."),
) -> None:
    """Serve a local Refiner API v1 emulator with seeded data; prints the base URL and key."""
    from emulator import SeedConfig
    from emulator.cli import ServeOptions, serve

    options = ServeOptions(
        host=host,
        port=port,
        seed=SeedConfig(
            seed=seed,
            contacts=contacts,
            accounts=accounts,
            forms=forms,
            segments=segments,
            responses=responses,
            days=days,
        ),
        api_key=api_key,
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        rate_limit=rate_limit,
        rate_limit_burst=rate_limit_burst,
        error_rate=error_rate,
        page_cache_mb=page_cache_mb,
        prewarm=prewarm,
    )
    serve(options, say=typer.echo)


def register(app: typer.Typer) -> None:
    """Add `refiner emulator` to the root app."""
    app.command("emulator")(emulator)
