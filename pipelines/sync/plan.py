"""push-traits' payloads and the diff: which rows differ from what Refiner last accepted.

Value rules (Refiner's identify-user, shared/refiner-api.md §3.2; conversion in
`pipelines.sync.values`):
- numbers, booleans and strings are sent as they are; Decimal becomes int or float;
- timestamps are sent as ISO 8601 UTC (`2024-05-01T10:00:00Z`; naive values are taken as UTC),
  dates as `YYYY-MM-DD`. Refiner parses a trait as a date only when its key ends in `_at`; a
  temporal trait whose key does not is still sent as the ISO text, and the plan carries a warning
  suggesting `--map col=col_at`, because renaming a user's trait silently would be worse;
- NULL leaves the trait out (`null_mode="skip"`, the default) or sends an empty string
  (`null_mode="clear"`);
- a string over 255 characters, a non-finite number, a list or object value, a missing identifier,
  or an identifier that appears on more than one row makes that row invalid, with the reason;
  the other rows still go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.sync.mapping import IdentifierType, TraitMapping, identities
from pipelines.sync.send import ContactWriter, SyncReport, split_identifier
from pipelines.sync.state import LogEntry, SyncStore
from pipelines.sync.values import PayloadHasher, convert_column
from pipelines.sync.warehouse import ColumnData

NullMode = Literal["skip", "clear"]
RowStatus = Literal["new", "changed", "unchanged", "invalid", "skipped"]

SAMPLE_SIZE = 5
"""Payloads a dry run shows."""


@dataclass
class PlannedRow:
    """One input row, turned into a payload (or a reason why it cannot be sent)."""

    identifier_type: IdentifierType
    identifier: str | None
    traits: dict[str, Any]
    account: dict[str, Any] | None
    payload_hash: str | None
    status: RowStatus
    reason: str | None = None

    def payload(self) -> dict[str, Any]:
        """The identify-user body as it will be sent (flat traits, optional account)."""
        body: dict[str, Any] = {self.identifier_type: self.identifier, **self.traits}
        if self.account is not None:
            body["account"] = self.account
        return body


@dataclass
class SyncPlan:
    """What a run would do: rows to send, invalid rows, and counts of the rest."""

    sync_name: str
    to_send: list[PlannedRow] = field(default_factory=list)
    invalid: list[PlannedRow] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def new_report(self, run_id: str) -> SyncReport:
        """An empty report counting the skipped and unchanged rows."""
        return SyncReport(run_id=run_id, skipped=self.skipped, unchanged=self.unchanged)

    def send(self, client: ContactWriter, row: PlannedRow) -> object:
        """identify-user with the row's traits and account."""
        id_, email = split_identifier(row.identifier_type, row.identifier)
        return client.update_contact(id=id_, email=email, traits=row.traits, account=row.account)

    def log(
        self, store: SyncStore, run_id: str, outcomes: Sequence[tuple[PlannedRow, str, str | None]]
    ) -> None:
        """Append to refiner_sync_log and keep the hashes Refiner accepted."""
        store.record(
            run_id,
            self.sync_name,
            [
                LogEntry(row.identifier_type, row.identifier, status, error, row.payload_hash)
                for row, status, error in outcomes
            ],
        )

    def label(self, row: PlannedRow) -> str:
        """`id 42` or `email a@b.c`."""
        return f"{row.identifier_type} {row.identifier or '(none)'}"


def plan_traits(
    data: ColumnData,
    mapping: TraitMapping,
    accepted: Mapping[tuple[str, str], str],
    *,
    sync_name: str,
    null_mode: NullMode = "skip",
) -> SyncPlan:
    """Diff the rows against the accepted hashes. Unchanged rows are only counted.

    Payload dicts are built only for rows that will be sent; the diff itself hashes each row's
    converted values (see PayloadHasher).
    """
    plan = SyncPlan(sync_name=sync_name)
    row_identities = identities(data, mapping.id_index, mapping.email_index)
    seen = Counter(identity for identity in row_identities if identity[1] is not None)
    traits = [
        (key, convert_column(key, data.columns[i]))
        for i, key in sorted(mapping.traits, key=lambda pair: pair[1])
    ]
    account = [
        (name, convert_column(f"account.{name}", data.columns[i]))
        for i, name in sorted(mapping.account, key=lambda pair: pair[1])
    ]
    invalid: dict[int, str] = {}
    for _, converted in reversed([*traits, *account]):
        invalid.update(converted.invalid)
    keys = [key for key, _ in traits]
    names = [name for name, _ in account]
    hasher = PayloadHasher(keys, names)
    empty = "" if null_mode == "clear" else None
    trait_rows = _row_tuples([c.values for _, c in traits], data.num_rows, empty)
    account_rows = _row_tuples([c.values for _, c in account], data.num_rows, None)
    account_id = names.index("id") if account else -1
    for row, (kind, value) in enumerate(row_identities):
        reason = invalid.get(row) if invalid else None
        if value is None:
            reason = "missing identifier (no remote_id or email)"
        elif seen[(kind, value)] > 1:
            reason = f"duplicate identifier: {kind} {value!r} is on {seen[(kind, value)]} rows"
        if reason is not None:
            plan.invalid.append(PlannedRow(kind, value, {}, None, None, "invalid", reason))
            continue
        assert value is not None
        values = trait_rows[row]
        group = account_rows[row]
        if account and group[account_id] is None:
            group = (None,) * len(names)
        if values.count(None) == len(values) and group.count(None) == len(group):
            plan.skipped += 1
            continue
        digest = hasher.digest(kind, value, values, group)
        previous = accepted.get((kind, value))
        if previous == digest:
            plan.unchanged += 1
            continue
        status: RowStatus = "new" if previous is None else "changed"
        payload = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        grouped = None
        if account and group[account_id] is not None:
            grouped = {n: v for n, v in zip(names, group, strict=True) if v is not None}
            grouped["id"] = str(grouped["id"])
        plan.to_send.append(PlannedRow(kind, value, payload, grouped, digest, status))
        if status == "new":
            plan.new += 1
        else:
            plan.changed += 1
    plan.warnings.extend(
        f"trait {key!r} holds dates but its key does not end in `_at`, so Refiner stores it as "
        f"text; rename it with --map {key}={key}_at to get a date trait"
        for key, column in traits
        if column.temporal and not key.endswith("_at")
    )
    return plan


def _row_tuples(
    columns: list[list[Any]], num_rows: int, null_as: str | None
) -> list[tuple[Any, ...]]:
    """Transpose converted columns into per-row tuples, NULL replaced by `null_as`."""
    if null_as is not None:
        columns = [[null_as if v is None else v for v in column] for column in columns]
    return list(zip(*columns, strict=True)) if columns else [()] * num_rows
