"""Backfills: responses from `--since` (to `--until` or now) in windows of BACKFILL_WINDOW_DAYS.

One dlt load per window. The source records the end of each finished window in its state,
committed with that window's data, so a rerun of the same command resumes after the last
finished window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from dlt import Pipeline

from pipelines.config import Settings
from pipelines.load.steps import Outcome, load_source, make_source
from sources.refiner.client import RefinerClient
from sources.refiner.source import RunStats
from sources.refiner.windows import split_days

BACKFILL_WINDOW_DAYS: Final = 30


def backfill(
    pipeline: Pipeline,
    client: RefinerClient,
    settings: Settings,
    stats: RunStats,
    window: tuple[datetime, datetime],
    full_refresh: bool,
    destination: str,
) -> list[Outcome]:
    """Load responses from `window`'s start to its end, window by window; resume after the last
    window a previous run of the same backfill (same start) finished. `full_refresh` drops the
    source's tables and state before the first window. Returns one Outcome per window loaded."""
    since, end = window
    windows = split_days(since, end, BACKFILL_WINDOW_DAYS)
    if not full_refresh:
        pipeline.sync_destination()
        through = backfill_through(pipeline, since)
        if through in {stop for _, stop in windows}:
            windows = [part for part in windows if part[1] > through]
    outcomes = []
    for index, part in enumerate(windows):
        source = make_source(client, settings, stats, window=part, backfill_since=since)
        refresh = full_refresh and index == 0
        outcomes.append(load_source(pipeline, source, ["responses"], destination, refresh))
    return outcomes


def backfill_through(pipeline: Pipeline, since: datetime) -> datetime | None:
    """End of the last window of the backfill from `since` whose data was loaded (the source
    saves it in its state, committed with that window's data)."""
    sources = pipeline.state.get("sources", {})
    record = sources.get("refiner", {}).get("backfill") or {}
    if not isinstance(record, dict) or record.get("since") != since.isoformat():
        return None
    through = record.get("through")
    return datetime.fromisoformat(through) if isinstance(through, str) else None
