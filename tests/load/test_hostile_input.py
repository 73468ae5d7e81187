"""Secret hygiene and hostile input (issue 5 §2).

The sentinel key and webhook secret are checked by the `witness` fixture in every test of this
suite (stdout, stderr, log records, exception texts, the pipelines folder with traces and load
packages, the warehouse file, the sync log). Here: names and values built to break string-built
SQL, in the loaded data and in the reverse sync's input, leave every table intact.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.load.helpers import Warehouse, truth_responses
from tests.load.scenarios import Workspace, assert_correct, assert_failed_clearly, assert_ok

HOSTILE_NAMES = (
    'x"; drop table t; --',
    "x'); drop table t; --",
    'a"b',
    "it's",
    "semi;colon",
    "back`tick",
    "ünï ❤ name",
)
QUOTE_HEAVY = "'\"`;-- ' OR '1'='1 \"); drop table t; -- \\'"


def plant_canary(warehouse: Warehouse) -> None:
    """A table `t` with one row, in the default schema (where an unqualified `drop table t`
    lands) and in `staging`, next to the reverse sync's input."""
    warehouse.close()
    if warehouse.destination == "duckdb":
        import duckdb

        connection: Any = duckdb.connect(warehouse.location)
    else:
        import psycopg2

        connection = psycopg2.connect(warehouse.location)
        connection.autocommit = True
    try:
        cursor = connection.cursor()
        cursor.execute("create schema if not exists staging")
        for schema in ("staging", "main" if warehouse.destination == "duckdb" else "public"):
            cursor.execute(f'create table if not exists "{schema}".t (canary text)')
            cursor.execute(f"insert into \"{schema}\".t values ('alive')")
    finally:
        connection.close()


def assert_canary_alive(warehouse: Warehouse) -> None:
    """Both canary tables still hold their one row."""
    default = "main" if warehouse.destination == "duckdb" else "public"
    for schema in ("staging", default):
        qualified = f'"{schema}".t'
        if warehouse.destination == "duckdb":
            from pathlib import Path

            qualified = f'"{Path(warehouse.location).stem}".{qualified}'
        assert warehouse.query(f"select canary from {qualified}") == [("alive",)], schema


def test_hostile_attribute_and_question_names_load_intact(workspace: Workspace) -> None:
    """Contact attributes and question identifiers named to break SQL, with quote-heavy values,
    load as data: every table intact, every name and value stored exactly."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    plant_canary(warehouse)
    store = emulator.store
    template = next(iter(truth_responses(emulator).values()))
    contact = template["contact"]["uuid"]
    store.upsert_contact(uuid=contact, attributes=dict.fromkeys(HOSTILE_NAMES, QUOTE_HEAVY))
    hostile = store.add_response(
        form_uuid=template["form"]["uuid"],
        contact_uuid=contact,
        data=dict.fromkeys(HOSTILE_NAMES, QUOTE_HEAVY),
    )

    workspace.load_ok()

    assert_canary_alive(warehouse)
    assert_correct(warehouse, emulator)
    answers = {
        row["question_identifier"]: row["value_text"]
        for row in warehouse.rows("response_answers", f"response_uuid = '{hostile}'")
    }
    assert answers == dict.fromkeys(HOSTILE_NAMES, QUOTE_HEAVY)
    attributes = {
        row["name"]: row["value_text"]
        for row in warehouse.rows("contact_attributes", f"contact_uuid = '{contact}'")
    }
    assert {name: attributes.get(name) for name in HOSTILE_NAMES} == dict.fromkeys(
        HOSTILE_NAMES, QUOTE_HEAVY
    )


def _write_hostile_traits(warehouse: Warehouse) -> None:
    import duckdb

    warehouse.close()
    columns = ", ".join('"' + name.replace('"', '""') + '" text' for name in HOSTILE_NAMES)
    connection = duckdb.connect(warehouse.location)
    try:
        connection.execute(f"create or replace table staging.hostile (remote_id text, {columns})")
        placeholders = ", ".join("?" for _ in range(len(HOSTILE_NAMES) + 1))
        connection.executemany(
            f"insert into staging.hostile values ({placeholders})",
            [(f"hostile-{i}", *([QUOTE_HEAVY] * len(HOSTILE_NAMES))) for i in range(3)],
        )
    finally:
        connection.close()


def test_hostile_trait_names_are_sent_as_data_or_refused(workspace: Workspace) -> None:
    """push-traits with trait columns named to break SQL and quote-heavy values: the traits
    reach Refiner under their exact names (or the run refuses with a reason), the sync tables
    and the canary stay intact, and a second run sends nothing."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    plant_canary(warehouse)
    _write_hostile_traits(warehouse)
    args = [
        "push-traits",
        "--table",
        "staging.hostile",
        "--duckdb-path",
        warehouse.location,
        "--dataset",
        warehouse.dataset,
        "--requests-per-minute",
        "600000",
    ]

    run = workspace.run(*args)

    assert_canary_alive(warehouse)
    if run.code != 0:
        assert_failed_clearly(run, "column")
        return
    for i in range(3):
        contact = emulator.store.find_contact(remote_id=f"hostile-{i}")
        assert contact is not None
        attributes = emulator.store.render_contact(contact.uuid)["attributes"]
        assert {name: attributes.get(name) for name in HOSTILE_NAMES} == dict.fromkeys(
            HOSTILE_NAMES, QUOTE_HEAVY
        )
    emulator.request_log.clear()
    assert_ok(workspace.run(*args))
    assert emulator.request_log.filter(path="/identify-user") == []
    assert len(warehouse.rows("refiner_sync_state")) == 3


UNTRUSTED_SQL = {
    "two statements": "select remote_id from staging.hostile; drop table t",
    "delete": "delete from t",
    "drop": "drop table t",
    "insert": "insert into t values ('x')",
    "update": "update t set canary = 'dead'",
    "create as": "create table u as select * from t",
    "select into": "select * into u from t",
    "attach": "attach '/tmp/other.duckdb' as other",
    "copy": "copy t to '/tmp/t.csv'",
    "pragma": "pragma database_list",
    "set": "set threads = 1",
    "cte with delete": "with d as (delete from t returning *) select * from d",
    "not sql": "this is not sql at all (",
}
UNTRUSTED_NAMES = {
    "--model": 'x"; drop table t; --',
    "--table": 'staging.x"; drop table t; --',
    "--dataset": 'refiner"; drop table t; --',
}


@pytest.mark.parametrize("case", list(UNTRUSTED_SQL))
def test_untrusted_sql_is_refused_with_a_reason(case: str, workspace: Workspace) -> None:
    """Anything but one read-only SELECT in `--sql` exits 2 naming `--sql`, sends nothing, and
    leaves the canary intact."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    plant_canary(warehouse)
    run = workspace.run(
        "push-traits",
        "--sql",
        UNTRUSTED_SQL[case],
        "--duckdb-path",
        warehouse.location,
        "--dataset",
        warehouse.dataset,
    )
    assert run.code == 2, run.output[-3000:]
    assert_failed_clearly(run, "--sql")
    assert list(emulator.request_log) == []
    assert_canary_alive(warehouse)


@pytest.mark.parametrize("option", list(UNTRUSTED_NAMES))
def test_untrusted_model_table_and_dataset_names_are_refused(
    option: str, workspace: Workspace
) -> None:
    """A model, table or dataset name that is not a plain identifier exits 2 with a reason."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    plant_canary(warehouse)
    extra = [] if option == "--dataset" else ["--dataset", warehouse.dataset]
    run = workspace.run(
        "push-traits",
        option,
        UNTRUSTED_NAMES[option],
        "--duckdb-path",
        warehouse.location,
        *extra,
    )
    assert run.code == 2, run.output[-3000:]
    assert_failed_clearly(run)
    assert list(emulator.request_log) == []
    assert_canary_alive(warehouse)


def test_quotes_inside_a_valid_select_are_data(workspace: Workspace) -> None:
    """A legitimate SELECT whose string literal looks like an attack runs as a read and
    pushes the literal as a trait value."""
    warehouse, emulator = workspace.warehouse, workspace.emulator
    plant_canary(warehouse)
    _write_hostile_traits(warehouse)
    literal = "x'; drop table t; --"
    sql = "select remote_id, '" + literal.replace("'", "''") + "' as note from staging.hostile"
    run = workspace.run(
        "push-traits",
        "--sql",
        sql,
        "--duckdb-path",
        warehouse.location,
        "--dataset",
        warehouse.dataset,
        "--requests-per-minute",
        "600000",
    )
    assert_ok(run)
    assert_canary_alive(warehouse)
    sent = [
        entry.params.get("note") for entry in emulator.request_log.filter(path="/identify-user")
    ]
    assert sent == [literal] * 3
