"""Terminal output: the load summary, and push-traits/push-events dry-run plans and summaries.

A dry-run plan is a table on a terminal and JSON lines when stdout is not one (a pipe, a file):
one object per line, never wrapped. The first line holds the counts (`dry_run` names the
command), then one `{"sample": ...}` line per sample payload and one `{"invalid": {"row",
"reason"}}` line per invalid row.

Nothing printed here can hold the API key: plans and reports carry only identifiers, trait
values and error texts that were redacted before they reached them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson
from rich.console import Console
from rich.table import Table

from pipelines.sync.events import EventPlan
from pipelines.sync.plan import SAMPLE_SIZE, SyncPlan
from pipelines.sync.send import SyncReport

if TYPE_CHECKING:
    from pipelines.load.run import LoadSummary

MAX_FAILURES_SHOWN = 20


def _counts(title: str, rows: list[tuple[str, int]]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("rows")
    table.add_column("count", justify="right")
    for name, count in rows:
        table.add_row(name, str(count))
    return table


def _samples(console: Console, payloads: list[dict[str, object]]) -> None:
    if not payloads:
        return
    console.print(f"Sample payloads (first {len(payloads)}):")
    for payload in payloads:
        console.print(orjson.dumps(payload).decode(), markup=False, highlight=False)


def render_trait_plan(console: Console, plan: SyncPlan) -> None:
    """Dry run of push-traits: counts, sample payloads and invalid rows; nothing is sent."""
    samples = [row.payload() for row in plan.to_send[:SAMPLE_SIZE]]
    invalid = [
        (f"{row.identifier_type} {row.identifier or '(none)'}", row.reason or "")
        for row in plan.invalid
    ]
    if not console.is_terminal:
        counts = {
            "new": plan.new,
            "changed": plan.changed,
            "unchanged": plan.unchanged,
            "invalid": len(plan.invalid),
            "skipped": plan.skipped,
        }
        summary = {"dry_run": "push-traits", "sync_name": plan.sync_name, **counts}
        _json_lines(console, summary, samples, invalid)
        return
    rows = [
        ("new", plan.new),
        ("changed", plan.changed),
        ("unchanged", plan.unchanged),
        ("invalid", len(plan.invalid)),
        ("skipped (no traits)", plan.skipped),
    ]
    console.print(_counts(f"push-traits dry run ({plan.sync_name}): nothing sent", rows))
    _samples(console, samples)
    _failures(console, invalid, "Invalid rows")


def render_event_plan(console: Console, plan: EventPlan) -> None:
    """Dry run of push-events: counts, sample events and invalid rows; nothing is sent."""
    samples: list[dict[str, object]] = [
        {"row_key": e.row_key, e.identifier_type: e.identifier, "event": e.event}
        for e in plan.to_send[:SAMPLE_SIZE]
    ]
    invalid = [(f"row_key {e.row_key or '(none)'}", e.reason or "") for e in plan.invalid]
    if not console.is_terminal:
        summary = {
            "dry_run": "push-events",
            "new": len(plan.to_send),
            "already_sent": plan.already_sent,
            "invalid": len(plan.invalid),
        }
        _json_lines(console, summary, samples, invalid)
        return
    rows = [
        ("new", len(plan.to_send)),
        ("already sent", plan.already_sent),
        ("invalid", len(plan.invalid)),
    ]
    console.print(_counts("push-events dry run: nothing sent", rows))
    _samples(console, samples)
    _failures(console, invalid, "Invalid rows")


def _json_lines(
    console: Console,
    summary: dict[str, object],
    samples: list[dict[str, object]],
    invalid: list[tuple[str, str]],
) -> None:
    """A dry-run plan for a pipe: every line one JSON object, written past rich's wrapping."""
    lines = [
        summary,
        *({"sample": sample} for sample in samples),
        *({"invalid": {"row": row, "reason": reason}} for row, reason in invalid),
    ]
    console.file.write(b"".join(orjson.dumps(line) + b"\n" for line in lines).decode())
    console.file.flush()


def render_report(console: Console, title: str, report: SyncReport) -> None:
    """The closing summary: sent, succeeded, failed, skipped, unchanged and the duration."""
    table = _counts(
        f"{title} (run {report.run_id})",
        [
            ("sent", report.sent),
            ("succeeded", report.succeeded),
            ("failed", report.failed),
            ("skipped", report.skipped),
            ("unchanged", report.unchanged),
        ],
    )
    table.add_row("duration", f"{report.duration_s:.2f} s")
    console.print(table)
    _failures(console, report.failures, "Failed rows")


def _failures(console: Console, failures: list[tuple[str, str]], title: str) -> None:
    if not failures:
        return
    table = Table(title=f"{title} ({len(failures)})", show_header=True, header_style="bold")
    table.add_column("row")
    table.add_column("reason", overflow="fold")
    for label, reason in failures[:MAX_FAILURES_SHOWN]:
        table.add_row(label, reason)
    console.print(table)
    if len(failures) > MAX_FAILURES_SHOWN:
        console.print(f"... and {len(failures) - MAX_FAILURES_SHOWN} more; see the sync log table.")


def print_summary(summary: LoadSummary, console: Console, tables: Sequence[str] = ()) -> None:
    """The closing table: rows per table, deletions, requests, duration, cursors.

    Every table in `tables` (those of the resources loaded) has a row, 0 when the load wrote
    none; a load that changed nothing but its `account_usage` snapshot says "nothing new".
    """
    from sources.refiner import TABLES_BY_RESOURCE

    out = console
    table = Table(title=f"refiner load -> {summary.destination}:{summary.dataset}")
    table.add_column("table")
    table.add_column("rows loaded", justify="right")
    table.add_column("rows deleted", justify="right")
    names = sorted(set(tables) | set(summary.rows) | set(summary.deleted))
    for name in names:
        deleted = summary.deleted.get(name)
        table.add_row(name, str(summary.rows.get(name, 0)), str(deleted) if deleted else "")
    out.print(table)
    snapshots = TABLES_BY_RESOURCE["account_usage"]
    changed = [n for n in names if n not in snapshots and summary.rows.get(n, 0)]
    if not changed and not any(summary.deleted.values()):
        written = any(summary.rows.get(name, 0) for name in snapshots)
        out.print("nothing new" + (": only the account_usage snapshot" if written else ""))
    out.print(
        f"API requests: {summary.requests}   duration: {summary.duration_seconds:.1f} s"
        + (f"   backfill windows: {summary.backfill_windows}" if summary.backfill_windows else "")
    )
    for name, value in summary.cursors.items():
        out.print(f"cursor {name}: {value}")
    for name, count in summary.missing_cursor.items():
        out.print(f"{name}: {count} records without a cursor value (loaded, logged)")
