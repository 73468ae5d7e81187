"""Asset keys shared by the load, dbt and sync assets, so the graph lines up by construction.

A loaded table is `refiner/<table>`: the dbt source `refiner` and its table, so each dbt
source resolves to the load asset that writes it. dbt models keep dagster-dbt's default key,
the model name (`stg_refiner__responses`, `contact_traits`).
"""

from __future__ import annotations

from dagster import AssetKey

SOURCE_NAME = "refiner"
LOAD_GROUP = "refiner_load"
TRANSFORM_GROUP = "refiner_transform"
SYNC_GROUP = "refiner_sync"
DIGEST_GROUP = "refiner_digest"
EVENTS_GROUP = "refiner_events"
CONTACT_TRAITS = AssetKey("contact_traits")
PUSH_TRAITS = AssetKey("push_traits")
DAILY_DIGEST = AssetKey("daily_digest")
RUN_TAG = "refiner/warehouse"
"""On every run that writes the warehouse, so a deployment can limit them to one at a time."""


def raw_table_key(table: str) -> AssetKey:
    """The load asset of warehouse table `table`."""
    return AssetKey([SOURCE_NAME, table])


def loaded_tables() -> list[str]:
    """Every table `refiner load` writes, in the source's resource order."""
    from sources.refiner import TABLES_BY_RESOURCE

    return [table for tables in TABLES_BY_RESOURCE.values() for table in tables]
