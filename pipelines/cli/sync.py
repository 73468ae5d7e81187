"""`refiner push-traits` and `refiner push-events`: the reverse sync commands.

`--dry-run` prints the plan and sends nothing: a table on a terminal, JSON lines otherwise
(pipelines/cli/render.py). Exit codes: 0 when every row succeeded (or was unchanged), 1 when
any row failed or was invalid (RowsFailed), 2 for bad options or input (including a refused
--max-changes guard), 3 for a refused API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from pipelines.cli.options import ANALYTICS_SCHEMA, DATASET, DESTINATION, DUCKDB_PATH

if TYPE_CHECKING:
    from pipelines.sync.runs import WarehouseTarget


def _client(api_key: str | None, base_url: str | None, requests_per_minute: float | None) -> Any:
    from pipelines.config import make_client, resolve_api_settings

    settings = resolve_api_settings(api_key, base_url)
    overrides = {} if requests_per_minute is None else {"requests_per_minute": requests_per_minute}
    return make_client(settings, **overrides), settings.api_key


def _target(
    destination: str | None,
    duckdb_path: str | None,
    dataset: str | None,
    analytics_schema: str | None = None,
) -> WarehouseTarget:
    """The warehouse the sync reads and logs to: the flags, else `[warehouse]`."""
    from pipelines.config import resolve_warehouse
    from pipelines.sync.runs import WarehouseTarget

    warehouse = resolve_warehouse(destination, dataset, analytics_schema, duckdb_path)
    return WarehouseTarget.of(warehouse)


_ID_COLUMN = typer.Option(None, "--id-column", help="Column sent as `id` (default remote_id).")
_EMAIL_COLUMN = typer.Option(
    None, "--email-column", help="Column sent as `email` when the id is NULL (default email)."
)
_DRY_RUN = typer.Option(False, "--dry-run", help="Print counts and sample payloads; send nothing.")
_MAX_CHANGES = typer.Option(
    None, "--max-changes", min=0, help="Refuse to send more rows than this unless --yes."
)
_YES = typer.Option(False, "--yes", help="Confirm a run above --max-changes.")
_WORKERS = typer.Option(8, "--workers", min=1, max=64, help="Concurrent requests.")
_API_KEY = typer.Option(
    None,
    "--api-key",
    help="Refiner API key (default: SOURCES__REFINER__API_KEY or .dlt).",
    show_default=False,
)
_BASE_URL = typer.Option(None, "--base-url", help="API base URL (default from config).")
_RATE = typer.Option(
    None, "--requests-per-minute", min=1, help="Request budget (default from config: 3600)."
)


def push_traits_command(
    model: str | None = typer.Option(
        None, "--model", help="dbt model in --analytics-schema (default contact_traits)."
    ),
    analytics_schema: str | None = ANALYTICS_SCHEMA,
    table: str | None = typer.Option(None, "--table", help="Read schema.name instead."),
    sql: str | None = typer.Option(None, "--sql", help="Read a single SELECT instead."),
    sync_name: str | None = typer.Option(
        None, "--sync-name", help="Name the diff state is kept under (default: input name)."
    ),
    id_column: str | None = _ID_COLUMN,
    email_column: str | None = _EMAIL_COLUMN,
    renames: Annotated[
        list[str] | None, typer.Option("--map", help="col=trait rename; repeatable.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Column to leave out; repeatable.")
    ] = None,
    account_map: Annotated[
        list[str] | None,
        typer.Option("--account-map", help="col=field into the account (needs id); repeatable."),
    ] = None,
    null: str = typer.Option(
        "skip", "--null", help="NULL values: skip the trait, or clear it (send empty)."
    ),
    destination: str | None = DESTINATION,
    duckdb_path: str | None = DUCKDB_PATH,
    dataset: str | None = DATASET,
    dry_run: bool = _DRY_RUN,
    max_changes: int | None = _MAX_CHANGES,
    yes: bool = _YES,
    workers: int = _WORKERS,
    api_key: str | None = _API_KEY,
    base_url: str | None = _BASE_URL,
    requests_per_minute: float | None = _RATE,
) -> None:
    """Push computed contact traits to Refiner (identify-user), sending only changed rows."""
    from pipelines.cli.render import render_report, render_trait_plan
    from pipelines.errors import ConfigError
    from pipelines.sync.input import SyncInput
    from pipelines.sync.mapping import parse_pairs
    from pipelines.sync.runs import (
        TraitOptions,
        check_max_changes,
        execute,
        prepare_traits,
    )

    if null not in ("skip", "clear"):
        raise ConfigError(f"--null must be skip or clear, got {null!r}.")
    console = Console(highlight=False)
    target = _target(destination, duckdb_path, dataset, analytics_schema)
    options = TraitOptions(
        sync_name=sync_name,
        id_column=id_column,
        email_column=email_column,
        renames=parse_pairs(renames or [], "--map"),
        exclude=tuple(exclude or ()),
        account_map=parse_pairs(account_map or [], "--account-map"),
        null_mode="clear" if null == "clear" else "skip",
    )
    plan = prepare_traits(target, SyncInput(model=model, table=table, sql=sql), options)
    for warning in plan.warnings:
        Console(stderr=True, highlight=False).print(f"Warning: {warning}", markup=False)
    if dry_run:
        render_trait_plan(console, plan)
        return
    check_max_changes(len(plan.to_send), max_changes, yes)
    client, key = _client(api_key, base_url, requests_per_minute)
    with client:
        report = execute(target, plan, client, workers=workers, secrets=(key,))
    render_report(console, "push-traits", report)
    report.raise_for_failures("refiner_sync_log")


def push_events_command(
    sql: str = typer.Option(
        ..., "--sql", help="SELECT with identifier (or remote_id/email), event and row_key."
    ),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Column sent as `id` (default identifier, remote_id or id)."
    ),
    email_column: str | None = _EMAIL_COLUMN,
    destination: str | None = DESTINATION,
    duckdb_path: str | None = DUCKDB_PATH,
    dataset: str | None = DATASET,
    dry_run: bool = _DRY_RUN,
    max_changes: int | None = _MAX_CHANGES,
    yes: bool = _YES,
    workers: int = _WORKERS,
    api_key: str | None = _API_KEY,
    base_url: str | None = _BASE_URL,
    requests_per_minute: float | None = _RATE,
) -> None:
    """Track events in Refiner (track-event), once per row_key."""
    from pipelines.cli.render import render_event_plan, render_report
    from pipelines.sync.runs import check_max_changes, execute, prepare_events

    console = Console(highlight=False)
    target = _target(destination, duckdb_path, dataset)
    plan = prepare_events(target, sql, id_column=id_column, email_column=email_column)
    if dry_run:
        render_event_plan(console, plan)
        return
    check_max_changes(len(plan.to_send), max_changes, yes)
    client, key = _client(api_key, base_url, requests_per_minute)
    with client:
        report = execute(target, plan, client, workers=workers, secrets=(key,))
    render_report(console, "push-events", report)
    report.raise_for_failures("refiner_event_log")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("push-traits")(push_traits_command)
    app.command("push-events")(push_events_command)
