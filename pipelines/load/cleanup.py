"""Deletions after a load, in the destination, in one transaction each.

- `delete_stale_children`: child rows (attributes, segment memberships, answers) whose parent
  was reloaded without them; after every load.
- `delete_unseen_contacts`: after a `--reconcile` sweep of every contact, the contacts it did
  not see (gone from Refiner) with their attributes, segments, responses and answers, as
  Refiner deletes them.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from dlt import Pipeline

from sources.refiner.schema import CHILD_TABLES


def delete_stale_children(
    pipeline: Pipeline, load_ids: Sequence[str], written: Set[str]
) -> dict[str, int]:
    """Delete child rows whose parent was reloaded by `load_ids` without them (only parent
    tables in `written`, the tables those loads wrote, can have any).

    delete-insert on the parent key replaces a reloaded parent's children only when it has at
    least one new child; a contact that lost every attribute or segment, or a response whose
    data became empty, would keep its old rows. Children written with their parent carry the
    parent's `_dlt_load_id`, so any other load id under a parent of this load is stale.
    A run killed between its load and this step leaves such rows until the parent's next load.
    """
    existing = existing_tables(pipeline)
    placeholders = ", ".join(["%s"] * len(load_ids))
    deleted: dict[str, int] = {}
    with pipeline.sql_client() as client, client.begin_transaction():
        for child, (parent, key) in CHILD_TABLES.items():
            if child not in existing or parent not in existing or parent not in written:
                continue
            child_table = client.make_qualified_table_name(child)
            parent_table = client.make_qualified_table_name(parent)
            stale = (
                f"from {child_table} c where exists (select 1 from {parent_table} p"
                f" where p.uuid = c.{key} and p._dlt_load_id in ({placeholders})"
                " and p._dlt_load_id <> c._dlt_load_id)"
            )
            rows = client.execute_sql(f"select count(*) {stale}", *load_ids)
            count = int(rows[0][0]) if rows else 0
            if count:
                client.execute_sql(f"delete {stale}", *load_ids)
                deleted[child] = count
    return deleted


def delete_unseen_contacts(pipeline: Pipeline, load_id: str) -> dict[str, int]:
    """After a full contacts sweep (`load_id`): delete contacts the sweep did not see, and
    their data. Returns the rows deleted per table."""
    deleted: dict[str, int] = {}
    with pipeline.sql_client() as client:
        contacts = client.make_qualified_table_name("contacts")
        gone = f"select uuid from {contacts} where _dlt_load_id <> %s"
        responses = client.make_qualified_table_name("responses")
        statements = {
            "response_answers": (
                "response_uuid in (select uuid from {responses} where contact_uuid in ({gone}))"
                " or contact_uuid in ({gone})"
            ),
            "responses": "contact_uuid in ({gone})",
            "contact_attributes": "contact_uuid in ({gone})",
            "contact_segments": "contact_uuid in ({gone})",
            "contacts": "_dlt_load_id <> %s",
        }
        existing = existing_tables(pipeline)
        with client.begin_transaction():
            for table, condition in statements.items():
                if table not in existing:
                    continue
                where = condition.format(responses=responses, gone=gone)
                params = [load_id] * where.count("%s")
                qualified = client.make_qualified_table_name(table)
                rows = client.execute_sql(
                    f"select count(*) from {qualified} where {where}", *params
                )
                deleted[table] = int(rows[0][0]) if rows else 0
                if deleted[table]:
                    client.execute_sql(f"delete from {qualified} where {where}", *params)
    return deleted


def existing_tables(pipeline: Pipeline) -> set[str]:
    """Tables of the pipeline's schema that have columns (so exist in the destination)."""
    schema = pipeline.default_schema
    return {name for name, table in schema.tables.items() if table.get("columns")}
