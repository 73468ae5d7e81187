"""`refiner load`: Refiner into a warehouse, with progress and a summary.

The summary lists every table of the loaded resources (0 rows when nothing reached it) and
says "nothing new" when no row changed but the `account_usage` snapshot.

Failures print one line on stderr and exit non-zero (pipelines/cli/app.py maps errors to codes:
2 bad input, 3 authentication, 1 anything else). Bad options fail before any request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

from pipelines.cli.options import DATASET, DESTINATION, DUCKDB_PATH

if TYPE_CHECKING:
    from rich.console import Console

    from pipelines.load.run import LoadSummary

_PIPELINES_DIR_HELP = "Where dlt keeps pipeline state (default: {folder})."


class _LoadCommand(TyperCommand):
    """`refiner load`, whose help names the folder dlt really keeps pipeline state in.

    dlt picks it at run time (DLT_DATA_DIR, else ~/.dlt, else /var/dlt as root), and finding
    it imports dlt, so it is looked up only when the help is shown.
    """

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from dlt.common.pipeline import get_dlt_pipelines_dir

        for param in self.params:
            if param.name == "pipelines_dir":
                option: Any = param
                option.help = _PIPELINES_DIR_HELP.format(folder=get_dlt_pipelines_dir())
        super().format_help(ctx, formatter)


def load(
    destination: str | None = DESTINATION,
    dataset: str | None = DATASET,
    resources: str | None = typer.Option(
        None,
        help="Comma list among contacts, forms, responses, segments, reporting, account_usage.",
    ),
    since: str | None = typer.Option(
        None, help="Backfill responses from this date (YYYY-MM-DD or ISO date-time, UTC)."
    ),
    until: str | None = typer.Option(
        None,
        help="End of the backfill (exclusive). Default: now, after which incremental runs "
        "continue; with --until the incremental responses cursor is left as it is.",
    ),
    reconcile: bool = typer.Option(
        False, "--reconcile", help="Sweep all contacts and delete those gone from Refiner."
    ),
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Drop this source's tables and state, then load all."
    ),
    duckdb_path: str | None = DUCKDB_PATH,
    pipelines_dir: str | None = typer.Option(None, help=_PIPELINES_DIR_HELP.format(folder="dlt's")),
    api_key: str | None = typer.Option(
        None, help="Refiner API key (default: SOURCES__REFINER__API_KEY or .dlt/secrets.toml)."
    ),
    base_url: str | None = typer.Option(None, help="API base URL (default from .dlt config)."),
) -> None:
    """Load Refiner into the warehouse: incremental by default, backfill with --since.

    A full load (no --resources) also copies the MCP server's audit log, when there is one,
    into `mcp_audit_log`.
    """
    from pipelines.config import resolve_warehouse
    from pipelines.load.run import run_load
    from pipelines.mcp.audit_load import audit_log_resource
    from pipelines.mcp.settings import resolve_mcp_settings

    warehouse = resolve_warehouse(destination, dataset, duckdb_path=duckdb_path)
    audit_log = resolve_mcp_settings().audit_log
    extras = [] if resources or not audit_log.exists() else [audit_log_resource(audit_log)]
    summary = _with_progress(
        lambda progress: run_load(
            destination=warehouse.destination,
            dataset=warehouse.dataset,
            resources=resources.split(",") if resources else None,
            since=since,
            until=until,
            reconcile=reconcile,
            full_refresh=full_refresh,
            duckdb_path=warehouse.duckdb_path,
            pipelines_dir=pipelines_dir,
            api_key=api_key,
            base_url=base_url,
            progress=progress,
            extra_resources=extras,
        )
    )
    from pipelines.cli.render import print_summary
    from sources.refiner import RESOURCE_NAMES, TABLES_BY_RESOURCE

    chosen = [name.strip() for name in resources.split(",")] if resources else RESOURCE_NAMES
    tables = [table for name in chosen for table in TABLES_BY_RESOURCE.get(name, ())]
    print_summary(summary, _stdout(), tables)


def _with_progress(work: Any) -> LoadSummary:
    """Run `work(progress_callback)` under a rich status line on stderr."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        return work(None)  # type: ignore[no-any-return]
    with console.status("refiner load: starting") as status:

        def progress(phase: str, stats: Any, requests: int) -> None:
            rows = ", ".join(f"{t} {n}" for t, n in sorted(stats.rows.items()))
            status.update(f"refiner load: {phase}; {requests} requests; {rows}")

        return work(progress)  # type: ignore[no-any-return]


def _stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `refiner load` to the root app."""
    app.command("load", cls=_LoadCommand)(load)
