"""`refiner listen`, `refiner watch`, and `refiner events failed`, `retry` and `prune`.

Bad settings (no webhook secret without --insecure, a bad rules file) fail before anything
starts, in one line, with exit 2. starlette, uvicorn, jinja2 and slack_sdk are imported
only inside the commands.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipelines.cli.options import DATASET, DESTINATION, DUCKDB_PATH
from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from pipelines.events.service import ServiceOptions
    from pipelines.events.spool import Spool

SPOOL_HELP = "The receiver's spool (SQLite); its dlt working folder sits beside it."
_spool = typer.Option(Path("refiner_events/spool.sqlite"), "--spool", help=SPOOL_HELP)
_rules = typer.Option(None, "--rules", help="Rules file (TOML) of actions to run.")

events_app = typer.Typer(help="Inspect and re-run the receiver's actions.", no_args_is_help=True)


def listen(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8787, help="Port to bind."),
    rules: Path | None = _rules,
    destination: str | None = DESTINATION,
    dataset: str | None = DATASET,
    duckdb_path: str | None = DUCKDB_PATH,
    spool: Path = _spool,
    insecure: bool = typer.Option(
        False, "--insecure", help="Run without a webhook secret, on loopback only."
    ),
) -> None:
    """Receive Refiner webhooks at POST /webhooks/refiner; land them and run the rules."""
    from pipelines.events.receiver import serve

    options = _service_options(spool, destination, dataset, duckdb_path, rules)
    serve(options, host, port, insecure=insecure, announce=_say)


def watch(
    every: str = typer.Option("60s", help="Poll interval: seconds, or with s/m/h/d."),
    lookback: str = typer.Option(
        "1h", help="How far back the first poll reads (later polls start at the cursor)."
    ),
    rules: Path | None = _rules,
    destination: str | None = DESTINATION,
    dataset: str | None = DATASET,
    duckdb_path: str | None = DUCKDB_PATH,
    spool: Path = _spool,
) -> None:
    """Poll Refiner for new completed responses; feed the same spool, dedup and rules."""
    from pipelines.events.watch import run_watch

    options = _service_options(spool, destination, dataset, duckdb_path, rules)
    first = timedelta(seconds=parse_interval(lookback, "--lookback"))
    run_watch(options, parse_interval(every), first_lookback=first, announce=_say)


@events_app.command("failed")
def failed(spool: Path = _spool) -> None:
    """List dead-lettered actions: delivery, rule, action, attempts, last error."""
    from rich.table import Table

    store = _existing_spool(spool)
    with store.connection() as connection:
        dead = store.actions(connection, "dead")
    table = Table(title=f"{len(dead)} failed actions")
    for column in ("delivery", "rule", "action", "attempts", "finished", "last error"):
        table.add_column(column)
    for a in dead:
        action = f"{a.action_index} {a.action_type}"
        table.add_row(
            a.delivery_id, a.rule, action, str(a.attempts), a.finished_at or "", a.last_error or ""
        )
    _console().print(table)


@events_app.command("retry")
def retry(
    delivery: str | None = typer.Option(None, help="Only this delivery's actions."),
    spool: Path = _spool,
) -> None:
    """Make dead-lettered actions pending again; a running listen or watch runs them."""
    store = _existing_spool(spool)
    with store.connection() as connection:
        count = store.requeue_dead(connection, delivery)
    _say(f"{count} actions queued again")


@events_app.command("prune")
def prune(
    older_than: str = typer.Option(
        "30d", help="Age (s/m/h/d) past which finished deliveries are deleted."
    ),
    spool: Path = _spool,
) -> None:
    """Delete finished deliveries (in the warehouse, every action done) older than --older-than.

    A redelivery of a pruned delivery counts as new again, so keep more than Refiner's retry
    window. Deliveries not yet flushed, or with pending or dead actions, are kept.
    """
    from datetime import UTC, datetime

    age = timedelta(seconds=parse_interval(older_than, "--older-than"))
    store = _existing_spool(spool)
    with store.connection() as connection:
        count = store.prune(connection, datetime.now(UTC) - age)
        connection.execute("vacuum")
    _say(f"{count} deliveries pruned (received more than {older_than} ago)")


def parse_interval(text: str, option: str = "--every") -> float:
    """`60`, `60s`, `5m`, `1h` or `2d` in seconds; ConfigError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"{option} {text!r}: use a positive duration, e.g. 60s, 5m or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _service_options(
    spool: Path,
    destination: str | None,
    dataset: str | None,
    duckdb_path: str | None,
    rules: Path | None,
) -> ServiceOptions:
    """The receiver's options, its warehouse from the flags, else `[warehouse]`."""
    from pipelines.config import resolve_warehouse
    from pipelines.events.service import ServiceOptions

    warehouse = resolve_warehouse(destination, dataset, duckdb_path=duckdb_path)
    return ServiceOptions(
        spool, warehouse.destination, warehouse.dataset, str(warehouse.duckdb_path), rules
    )


def _existing_spool(path: Path) -> Spool:
    from pipelines.events.spool import Spool

    if not path.is_file():
        raise ConfigError(f"no spool at {str(path)!r}; pass --spool as given to refiner listen")
    return Spool(path)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _say(line: str) -> None:
    _console().print(line, markup=False)


def register(app: typer.Typer) -> None:
    """Add `refiner listen`, `refiner watch` and `refiner events ...` to the root app."""
    app.command("listen")(listen)
    app.command("watch")(watch)
    app.add_typer(events_app, name="events")
