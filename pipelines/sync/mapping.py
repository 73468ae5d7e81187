"""Which input column feeds which identify-user key, and how each row is identified.

Each row is identified by its id column (`remote_id` by default, sent as `id`) and, when that
is NULL or absent, by its email column (`email`, sent as `email`). Neither column, nor
`contact_uuid`, nor dlt's `_dlt_*` columns become traits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pipelines.errors import ConfigError
from pipelines.sync.warehouse import ColumnData
from sources.refiner.validation import IDENTIFY_RESERVED_KEYS

IdentifierType = Literal["id", "email"]

DEFAULT_ID_COLUMN = "remote_id"
DEFAULT_EMAIL_COLUMN = "email"
ALWAYS_EXCLUDED = frozenset({"contact_uuid"})


@dataclass(frozen=True)
class TraitMapping:
    """Which column feeds which key. Positions index into the input rows."""

    id_index: int | None
    email_index: int | None
    traits: tuple[tuple[int, str], ...]
    account: tuple[tuple[int, str], ...]

    @property
    def trait_keys(self) -> list[str]:
        return [key for _, key in self.traits]


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    """Parse repeated `left=right` options into a dict."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        left, sep, right = pair.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ConfigError(f"{option} expects column=name, got {pair!r}.")
        parsed[left.strip()] = right.strip()
    return parsed


def resolve_mapping(
    columns: Sequence[str],
    *,
    id_column: str | None = None,
    email_column: str | None = None,
    renames: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
    account_map: Mapping[str, str] | None = None,
) -> TraitMapping:
    """Decide identifier, trait and account columns from the input's column names."""
    renames = dict(renames or {})
    account_map = dict(account_map or {})
    exclude = set(exclude)
    position = {name: index for index, name in enumerate(columns)}
    for name in [*renames, *exclude, *account_map]:
        if name not in position:
            raise ConfigError(
                f"Column {name!r} is not in the input (columns: {', '.join(columns)})."
            )
    id_index = column_index(position, id_column, DEFAULT_ID_COLUMN, "--id-column")
    email_index = column_index(position, email_column, DEFAULT_EMAIL_COLUMN, "--email-column")
    if id_index is None and email_index is None:
        raise ConfigError(
            "The input has no identifier column: add `remote_id` or `email`, or pass --id-column."
        )
    if account_map and "id" not in account_map.values():
        raise ConfigError("--account-map must map a column to the account's `id` field.")
    taken = {columns[i] for i in (id_index, email_index) if i is not None}
    taken |= ALWAYS_EXCLUDED | exclude | set(account_map)
    traits: list[tuple[int, str]] = []
    for index, name in enumerate(columns):
        if name in taken or name.startswith("_dlt_"):
            continue
        key = renames.get(name, name)
        if key in IDENTIFY_RESERVED_KEYS:
            raise ConfigError(
                f"Column {name!r} would be sent as the reserved key {key!r}; rename it with "
                f"--map {name}=<trait> or drop it with --exclude {name}."
            )
        traits.append((index, key))
    duplicates = [key for key, count in Counter(k for _, k in traits).items() if count > 1]
    if duplicates:
        raise ConfigError(f"Several columns map to the same trait: {', '.join(duplicates)}.")
    account = tuple((position[column], name) for column, name in account_map.items())
    return TraitMapping(id_index, email_index, tuple(traits), account)


def column_index(
    position: Mapping[str, int], given: str | None, default: str, option: str
) -> int | None:
    """The position of the `given` column (which must exist), else of `default` if present."""
    if given is None:
        return position.get(default)
    if given not in position:
        raise ConfigError(f"{option} {given!r} is not a column of the input.")
    return position[given]


def identities(
    data: ColumnData, id_index: int | None, email_index: int | None
) -> list[tuple[IdentifierType, str | None]]:
    """Per row: ("id", remote id) when set, else ("email", email), else (kind, None)."""
    ids = texts(data, id_index)
    emails = texts(data, email_index)
    missing: IdentifierType = "id" if id_index is not None else "email"
    return [
        ("id", i) if i is not None else ("email", e) if e is not None else (missing, None)
        for i, e in zip(ids, emails, strict=True)
    ]


def texts(data: ColumnData, index: int | None) -> list[str | None]:
    """The column at `index` as stripped texts, blanks as None (all None without a column)."""
    if index is None:
        return [None] * data.num_rows
    return [_text(value) for value in data.pylist(index)]


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
