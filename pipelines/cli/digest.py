"""`refiner digest`: the day's (or week's) figures from the marts, summarised and delivered.

Exit codes: 0 sent (or skipped as empty with --skip-empty), 2 bad options or missing settings
or marts, 1 when an email or Slack message could not be sent. Cron-friendly: no prompts, the
digest's text on stdout only with `--to stdout`, one status line per other target on stderr.
"""

from __future__ import annotations

from datetime import date, datetime

import typer

from pipelines.cli.options import ANALYTICS_SCHEMA, DATASET, DESTINATION, DUCKDB_PATH
from pipelines.errors import ConfigError

_TO = typer.Option(
    None,
    "--to",
    help="stdout, file, email or slack; repeat for several (default: [digest] targets, else "
    "stdout).",
)


def digest_command(
    day: str | None = typer.Option(
        None, "--date", help="Day (YYYY-MM-DD) of the digest, or a day of its week."
    ),
    yesterday: bool = typer.Option(
        False, "--yesterday", help="Yesterday in --timezone (the default; last week for weeks)."
    ),
    timezone: str | None = typer.Option(
        None,
        "--timezone",
        help="IANA time zone of the days (default: [digest] timezone, else UTC).",
    ),
    period: str = typer.Option("day", "--period", help="day or week (Monday to Sunday)."),
    to: list[str] | None = _TO,
    output_dir: str | None = typer.Option(
        None,
        "--output-dir",
        help="Directory that --to file writes into (default: [digest] output_dir, else digest).",
    ),
    summarizer: str = typer.Option(
        "extractive", "--summarizer", help="none, extractive or openai (settings digest.llm_*)."
    ),
    skip_empty: bool = typer.Option(
        False, "--skip-empty", help="Send nothing when the period has no responses."
    ),
    destination: str | None = DESTINATION,
    duckdb_path: str | None = DUCKDB_PATH,
    dataset: str | None = DATASET,
    analytics_schema: str | None = ANALYTICS_SCHEMA,
) -> None:
    """Send a digest of NPS, CSAT, responses and top comments, from the dbt marts."""
    from rich.console import Console

    from pipelines.config import resolve_warehouse
    from pipelines.digest import run_digest
    from pipelines.digest.settings import digest_defaults

    if day is not None and yesterday:
        raise ConfigError("Use either --date or --yesterday, not both.")
    warehouse = resolve_warehouse(destination, dataset, analytics_schema, duckdb_path)
    defaults = digest_defaults()
    output_dir = output_dir or defaults.output_dir
    result = run_digest(
        date=_parse_date(day),
        timezone=timezone or defaults.timezone,
        period=period,
        to=to or defaults.targets or ("stdout",),
        output_dir=output_dir,
        summarizer=summarizer,
        skip_empty=skip_empty,
        destination=warehouse.destination,
        duckdb_path=warehouse.duckdb_path,
        dataset=warehouse.dataset,
        analytics_schema=warehouse.analytics_schema,
    )
    status = Console(stderr=True, highlight=False, soft_wrap=True)
    if result.skipped:
        status.print(f"No responses in {result.digest.period.label}; nothing sent.", markup=False)
        return
    for target in result.delivered:
        if target == "file":
            status.print(f"Digest written to {output_dir}/", markup=False)
        elif target != "stdout":
            status.print(f"Digest sent by {target}.", markup=False)


def _parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ConfigError(f"--date must be a day as YYYY-MM-DD; got {text!r}.") from None


def register(app: typer.Typer) -> None:
    """Add `refiner digest` to the root app."""
    app.command("digest")(digest_command)
