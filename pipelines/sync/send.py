"""Sending a plan: bounded concurrent requests, outcomes logged while sending goes on, a summary.

Traits and events go out the same way (`push`); a plan says how one of its items is sent and
logged (`Plan`). Requests run on a thread pool under the client's shared rate limiter, and the
client retries transient failures. Outcomes are written to the warehouse in batches by one
writer thread; at most 2 x workers items are ever unrecorded (in flight or awaiting their
write), so a killed run re-sends at most that many (16 with the default 8 workers).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from pipelines.sync.mapping import IdentifierType
from pipelines.sync.state import FAILED, INVALID, SUCCEEDED, SyncStore
from sources.refiner.errors import AuthError, RefinerError, redact

DEFAULT_WORKERS = 8


class ContactWriter(Protocol):
    """The part of `RefinerClient` the reverse sync uses."""

    def update_contact(
        self,
        *,
        id: str | None = None,
        email: str | None = None,
        traits: Mapping[str, Any] | None = None,
        account: Mapping[str, Any] | None = None,
    ) -> Any: ...

    def track_event(
        self, event: str, *, id: str | None = None, email: str | None = None
    ) -> Any: ...


class Planned(Protocol):
    """An item of a plan: invalid items carry the reason they are not sent."""

    reason: str | None


Item = TypeVar("Item", bound=Planned)


@dataclass
class SyncReport:
    """The closing summary of one run."""

    run_id: str
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    unchanged: int = 0
    duration_s: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def raise_for_failures(self, log_table: str) -> None:
        """Raise RowsFailed (exit code 1) when any row failed."""
        if self.failed:
            raise RowsFailed(
                f"{self.failed} row(s) failed; they are retried on the next run. Reasons are "
                f"above and in {log_table} (run_id {self.run_id})."
            )


class RowsFailed(Exception):
    """Some rows failed or were invalid; the run's other rows were sent and recorded."""


class Plan(Protocol[Item]):
    """What a run would send (traits or events), and how one of its items is sent and logged."""

    @property
    def to_send(self) -> Sequence[Item]: ...

    @property
    def invalid(self) -> Sequence[Item]: ...

    def new_report(self, run_id: str) -> SyncReport:
        """An empty report that already counts the items the plan leaves out."""
        ...

    def send(self, client: ContactWriter, item: Item) -> object:
        """Send one item; a RefinerError fails it."""
        ...

    def log(
        self, store: SyncStore, run_id: str, outcomes: Sequence[tuple[Item, str, str | None]]
    ) -> None:
        """Record (item, status, error) outcomes in one transaction."""
        ...

    def label(self, item: Item) -> str:
        """How the item is named in the summary's failures."""
        ...


@dataclass(frozen=True)
class Outcome:
    """The result of sending one item: None error means Refiner accepted it."""

    item: Any
    error: str | None


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def split_identifier(kind: IdentifierType, value: str | None) -> tuple[str | None, str | None]:
    """(id, email) keyword values for the client."""
    return (value, None) if kind == "id" else (None, value)


def push(
    plan: Plan[Item],
    client: ContactWriter,
    store: SyncStore,
    *,
    workers: int = DEFAULT_WORKERS,
    run_id: str | None = None,
    secrets: Sequence[str | None] = (),
) -> SyncReport:
    """Log the plan's invalid items, send the others, log every outcome, and summarise."""
    started = time.monotonic()
    report = plan.new_report(run_id or new_run_id())
    store.ensure_tables()
    plan.log(store, report.run_id, [(item, INVALID, item.reason) for item in plan.invalid])

    def record(batch: list[Outcome]) -> None:
        plan.log(
            store,
            report.run_id,
            [(o.item, SUCCEEDED if o.error is None else FAILED, o.error) for o in batch],
        )
        for outcome in batch:
            report.sent += 1
            if outcome.error is None:
                report.succeeded += 1
            else:
                report.failed += 1
                report.failures.append((plan.label(outcome.item), outcome.error))

    try:
        send_bounded(
            plan.to_send, partial(plan.send, client), record, workers=workers, secrets=secrets
        )
    finally:
        report.failed += len(plan.invalid)
        report.failures[:0] = [(plan.label(item), item.reason or "") for item in plan.invalid]
        report.duration_s = time.monotonic() - started
    return report


Sent = TypeVar("Sent")


def send_bounded(
    items: Sequence[Sent],
    send: Callable[[Sent], object],
    record: Callable[[list[Outcome]], None],
    *,
    workers: int,
    secrets: Sequence[str | None] = (),
) -> list[Outcome]:
    """Send items on `workers` threads and record finished ones in batches on one writer thread.

    At most `2 * workers` items are unrecorded at any time (in flight, or finished and waiting
    for or in the current write), so a killed run re-sends at most that many. Writing overlaps
    sending, so batches grow with throughput instead of a slow commit pacing every request.
    A RefinerError fails only its item (the client has already retried transient ones). An
    AuthError stops submitting; items in flight finish and are recorded, then it is raised.
    """
    outcomes: list[Outcome] = []
    fatal: BaseException | None = None
    queue = iter(items)
    limit = 2 * max(1, workers)
    finished: list[Outcome] = []
    with (
        ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="reverse-sync") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="reverse-sync-log") as writer,
    ):
        pending: dict[Future[object], Sent] = {}
        writing: Future[None] | None = None
        written = 0

        def unrecorded() -> int:
            return len(pending) + len(finished) + (0 if writing is None else written)

        while True:
            while fatal is None and len(pending) < workers and unrecorded() < limit:
                item = next(queue, None)
                if item is None:
                    break
                pending[pool.submit(send, item)] = item
            if writing is not None and writing.done():
                writing.result()
                writing = None
            if finished and writing is None:
                batch, finished = finished, []
                outcomes.extend(batch)
                written = len(batch)
                writing = writer.submit(record, batch)
            if not pending and writing is None and not finished:
                break
            waiting: set[Future[Any]] = set(pending)
            if writing is not None:
                waiting.add(writing)
            done, _ = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                if future is writing:
                    continue
                item = pending.pop(future)
                error = future.exception()
                if error is None:
                    finished.append(Outcome(item, None))
                elif isinstance(error, RefinerError):
                    finished.append(Outcome(item, redact(str(error), *secrets)))
                    if isinstance(error, AuthError):
                        fatal = error
                else:
                    fatal = fatal or error
    if fatal is not None:
        raise fatal
    return outcomes
