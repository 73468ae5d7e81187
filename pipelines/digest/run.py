"""`run_digest`: read the marts, summarise, render, and deliver one digest.

Steps: resolve the period in the time zone; check the delivery settings (before any work, so a
missing SMTP host fails fast); open the warehouse read-only for the queries only (waiting with
backoff while a load or transform holds the DuckDB file); summarise;
then write to each target of `to`: stdout, file (digest.json/.html/.txt and nps_trend.png in
`output_dir`), email, slack. With `skip_empty`, a period without responses sends nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date as Date
from pathlib import Path
from typing import cast

from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET, DEFAULT_DUCKDB_PATH
from pipelines.digest.chart import nps_trend_png
from pipelines.digest.deliver import send_email, send_slack, write_files
from pipelines.digest.figures import build_digest
from pipelines.digest.model import Digest
from pipelines.digest.periods import resolve_period
from pipelines.digest.render import render_text
from pipelines.digest.settings import (
    DEFAULT_OUTPUT_DIR,
    DEFAULT_TIMEZONE,
    EmailSettings,
    LlmSettings,
    SlackSettings,
    Target,
    email_settings,
    llm_settings,
    parse_targets,
    slack_settings,
)
from pipelines.digest.summarize import SUMMARIZERS, SummarizerName, summarize
from pipelines.errors import ConfigError
from pipelines.sync.warehouse import Warehouse, open_warehouse

BUSY_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class DigestResult:
    """The digest, its text, where it went, and whether it was skipped as empty."""

    digest: Digest
    text: str
    skipped: bool
    delivered: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Delivery:
    email: EmailSettings | None
    slack: SlackSettings | None
    llm: LlmSettings | None
    chart_wanted: bool


def run_digest(
    *,
    date: Date | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    period: str = "day",
    to: Sequence[str] = ("stdout",),
    output_dir: str | Path | None = None,
    summarizer: str = "extractive",
    skip_empty: bool = False,
    destination: str = "duckdb",
    duckdb_path: str | Path | None = None,
    dataset: str = DEFAULT_DATASET,
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA,
) -> DigestResult:
    """Build the digest of `period` (day or week) holding `date` (default: yesterday, or last
    week, in `timezone`) and send it to each target of `to`.

    Raises ConfigError for bad options, missing settings or missing marts (exit 2), and
    DeliveryError when an email or Slack message cannot be sent (exit 1).
    """
    targets = list(parse_targets(to))
    if summarizer not in SUMMARIZERS:
        raise ConfigError(
            f"--summarizer must be one of {', '.join(SUMMARIZERS)}; got {summarizer!r}."
        )
    chosen = resolve_period(period, date, timezone)
    delivery = _delivery_settings(targets, summarizer)
    warehouse = _open_read_only(destination, Path(duckdb_path or DEFAULT_DUCKDB_PATH))
    try:
        digest = build_digest(warehouse, chosen, analytics_schema=analytics_schema, dataset=dataset)
    finally:
        warehouse.close()
    text = render_text(digest)
    if digest.is_empty and skip_empty:
        return DigestResult(digest, text, skipped=True)
    if not digest.is_empty:
        summary = summarize(digest, cast(SummarizerName, summarizer), delivery.llm)
        digest = replace(digest, summary=summary)
        text = render_text(digest)
    chart = (
        nps_trend_png(digest.trend, chosen.timezone)
        if delivery.chart_wanted and not digest.is_empty
        else None
    )
    result = DigestResult(digest, text, skipped=False)
    for target in targets:
        _deliver(result, target, delivery, chart, Path(output_dir or DEFAULT_OUTPUT_DIR))
    return result


def _deliver(
    result: DigestResult, target: Target, delivery: _Delivery, chart: bytes | None, directory: Path
) -> None:
    """Send `result` to one target and record it there."""
    if target == "stdout":
        sys.stdout.write(result.text)
        sys.stdout.flush()
    elif target == "file":
        result.files.extend(write_files(result.digest, directory, chart))
    elif target == "email":
        assert delivery.email is not None
        send_email(result.digest, delivery.email, chart)
    else:
        assert delivery.slack is not None
        send_slack(result.digest, delivery.slack)
    result.delivered.append(target)


def _open_read_only(destination: str, duckdb_path: Path) -> Warehouse:
    """Open the warehouse read-only, waiting up to BUSY_WAIT_SECONDS (with backoff) while
    another process, such as a load or a transform, holds the DuckDB file's write lock."""
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

    retrying = Retrying(
        retry=retry_if_exception(_is_busy),
        stop=stop_after_delay(BUSY_WAIT_SECONDS),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        reraise=True,
    )
    return retrying(open_warehouse, destination, duckdb_path=duckdb_path, read_only=True)


def _is_busy(error: BaseException) -> bool:
    import duckdb

    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def _delivery_settings(targets: list[Target], summarizer: str) -> _Delivery:
    email = email_settings() if "email" in targets else None
    slack = slack_settings() if "slack" in targets else None
    llm = llm_settings() if summarizer == "openai" else None
    served = slack is not None and slack.chart_base_url is not None
    return _Delivery(
        email=email,
        slack=slack,
        llm=llm,
        chart_wanted="file" in targets or email is not None or served,
    )
