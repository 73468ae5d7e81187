"""The tables the `refiner` source writes: names, grains, keys, write dispositions, column types.

Tables, grains and keys (the warehouse contract; every timestamp is UTC timestamptz):

- contacts: one row per contact; pk uuid; merge.
- contact_attributes: one row per attribute of a contact; pk (contact_uuid, name);
  delete-insert on contact_uuid (a reloaded contact's attributes are replaced).
- contact_segments: one row per segment of a contact; pk (contact_uuid, segment_uuid);
  delete-insert on contact_uuid.
- forms: one row per survey, archived ones included; pk uuid; merge.
- responses: one row per response (or survey view with include=all); pk uuid; merge.
- response_answers: one row per answer, one per element of a multi-select list;
  pk (response_uuid, question_identifier, position); delete-insert on response_uuid.
- segments: one row per segment; pk uuid; merge.
- reporting: one row per report type, form and day; pk (report_type, form_uuid, day); merge.
- account_usage: one row per snapshot; pk snapshot_at; merge on snapshot_at (one new
  snapshot per run, never replaced; a rerun that reloads a package does not duplicate it).
- account_usage_environments: one row per environment per snapshot; pk (snapshot_at, uuid);
  merge on (snapshot_at, uuid), like account_usage.

When one load holds a key twice (a record edited while the run read it), `contacts`,
`responses` and `response_answers` keep the version with the newest cursor (`NEWEST`).
JSON columns (`data`, `attributes`, `config`, ...) are dlt `json` columns, never exploded.
`HINTS` holds each resource's hints, `CHILD_HINTS` those of the extra tables it writes.
"""

from __future__ import annotations

from typing import Any

from dlt.common.schema.typing import TTableSchemaColumns

RESOURCE_NAMES = (
    "contacts",
    "forms",
    "responses",
    "segments",
    "reporting",
    "account_usage",
)
"""Resources of the source, in load order; each may write more than one table."""

TABLES_BY_RESOURCE: dict[str, tuple[str, ...]] = {
    "contacts": ("contacts", "contact_attributes", "contact_segments"),
    "forms": ("forms",),
    "responses": ("responses", "response_answers"),
    "segments": ("segments",),
    "reporting": ("reporting",),
    "account_usage": ("account_usage", "account_usage_environments"),
}

CHILD_TABLES: dict[str, tuple[str, str]] = {
    "contact_attributes": ("contacts", "contact_uuid"),
    "contact_segments": ("contacts", "contact_uuid"),
    "response_answers": ("responses", "response_uuid"),
}
"""Child table -> (parent table, column holding the parent's uuid): rows replaced per parent."""

BUILT_FROM_PARENT_ROW = frozenset({"contact_attributes", "response_answers"})
"""Child tables that reshape.py builds from their parent row's own columns alone (a contact's
`attributes`, a response's `data`): an unchanged parent row means unchanged child rows."""

JSON = {"data_type": "json"}
TIMESTAMP = {"data_type": "timestamp", "timezone": True}
TEXT = {"data_type": "text"}
BIGINT = {"data_type": "bigint"}
DOUBLE = {"data_type": "double"}
DATE = {"data_type": "date"}
NEWEST = {**TIMESTAMP, "dedup_sort": "desc"}
"""A cursor column that decides which version a merge keeps when one load holds a key twice
(a record edited while the run read it): the newest. Without it dlt keeps either."""


def columns(**types: dict[str, Any]) -> TTableSchemaColumns:
    """Column hints by name (each hint dict copied)."""
    return {name: dict(hint) for name, hint in types.items()}  # type: ignore[misc]


def primary_key(resource: str) -> tuple[str, ...]:
    """The primary key of the resource's own table."""
    key = HINTS[resource]["primary_key"]
    return (key,) if isinstance(key, str) else tuple(key)


def _child_of(child: str, primary_key: tuple[str, ...], **types: dict[str, Any]) -> dict[str, Any]:
    """Hints of a child table whose rows are replaced per parent: a merge deletes every row
    whose parent key (CHILD_TABLES) is in the load, then inserts the loaded rows (deduplicated
    on `primary_key`).

    dlt's `merge_key` would delete the same rows, but next to a primary key it deletes where
    `primary key OR merge key` matches, a correlated condition that DuckDB evaluates by
    grouping every key of the whole child table, far slower on a large child table than this
    semi-join on the parent key. `merge_key: False` clears the hint that warehouses loaded by
    earlier versions keep on the parent key.
    """
    parent_key = CHILD_TABLES[child][1]
    return {
        "write_disposition": {
            "disposition": "merge",
            "strategy": "delete-insert",
            "destination_scope": f"{parent_key} IN (SELECT {parent_key} FROM {{staging_table}})",
        },
        "primary_key": primary_key,
        "columns": columns(**types, **{parent_key: {"merge_key": False}}),
    }


HINTS: dict[str, dict[str, Any]] = {
    "contacts": {
        "name": "contacts",
        "primary_key": "uuid",
        "write_disposition": "merge",
        "columns": columns(attributes=JSON, account_attributes=JSON, last_seen_at=NEWEST),
    },
    "forms": {
        "name": "forms",
        "primary_key": "uuid",
        "write_disposition": "merge",
        "columns": columns(channels=JSON, folder=JSON, config=JSON),
        "parallelized": True,
    },
    "responses": {
        "name": "responses",
        "primary_key": "uuid",
        "write_disposition": "merge",
        "columns": columns(data=JSON, tags=JSON),
    },
    "segments": {
        "name": "segments",
        "primary_key": "uuid",
        "write_disposition": "merge",
        "parallelized": True,
    },
    "reporting": {
        "name": "reporting",
        "primary_key": ("report_type", "form_uuid", "day"),
        "write_disposition": "merge",
        "columns": columns(
            report_type=TEXT,
            form_uuid=TEXT,
            day=DATE,
            score=DOUBLE,
            count=BIGINT,
            views=BIGINT,
            responses=BIGINT,
            promoters=BIGINT,
            passives=BIGINT,
            detractors=BIGINT,
            breakdown=JSON,
            date_range_start=TIMESTAMP,
            date_range_end=TIMESTAMP,
        ),
        "parallelized": True,
    },
    "account_usage": {
        "name": "account_usage",
        "primary_key": "snapshot_at",
        "write_disposition": "merge",
        "columns": columns(
            snapshot_at=TIMESTAMP,
            plan=TEXT,
            mtu_count=BIGINT,
            mtu_limit=BIGINT,
            mte_count=BIGINT,
            mpv_count=BIGINT,
            mpv_limit=BIGINT,
            msr_count=BIGINT,
            msr_limit=BIGINT,
            mtu_count_updated_at=TIMESTAMP,
            mte_count_updated_at=TIMESTAMP,
            mpv_count_updated_at=TIMESTAMP,
            msr_count_updated_at=TIMESTAMP,
        ),
    },
}
"""dlt resource hints per resource (its own table)."""

CHILD_HINTS: dict[str, dict[str, dict[str, Any]]] = {
    "contacts": {
        "contact_attributes": _child_of(
            "contact_attributes", ("contact_uuid", "name"), value_timestamp=TIMESTAMP
        ),
        "contact_segments": _child_of(
            "contact_segments", ("contact_uuid", "segment_uuid"), entered_at=TIMESTAMP
        ),
    },
    "responses": {
        "response_answers": _child_of(
            "response_answers",
            ("response_uuid", "question_identifier", "position"),
            answered_at=NEWEST,
        ),
    },
    "account_usage": {
        "account_usage_environments": {
            "write_disposition": "merge",
            "primary_key": ("snapshot_at", "uuid"),
            "columns": columns(
                snapshot_at=TIMESTAMP,
                uuid=TEXT,
                name=TEXT,
                mtu=BIGINT,
                mte=BIGINT,
                mpv=BIGINT,
                msr=BIGINT,
            ),
        },
    },
}
"""Hints of the extra tables a resource writes (table variants), per resource."""
