"""Pure tests of the reverse sync: input validation, column mapping, value rules and the diff."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pipelines.errors import ConfigError
from pipelines.sync.events import plan_events
from pipelines.sync.input import SyncInput, validate_select
from pipelines.sync.mapping import parse_pairs, resolve_mapping
from pipelines.sync.plan import plan_traits
from pipelines.sync.runs import check_max_changes
from pipelines.sync.values import InvalidRow, convert_column, trait_value
from pipelines.sync.warehouse import ColumnData, DuckDBWarehouse


def data(columns: list[str], rows: list[tuple[object, ...]]) -> ColumnData:
    return ColumnData.from_rows(columns, rows)


COLUMNS = ["contact_uuid", "remote_id", "email", "nps", "plan", "last_response_at", "_dlt_id"]


def row(remote_id: str | None, email: str | None = None, nps: object = 9, plan: object = "pro"):
    return ("c-uuid", remote_id, email, nps, plan, datetime(2024, 5, 1, 10, tzinfo=UTC), "x")


@pytest.mark.parametrize(
    "sql",
    [
        "select 1 as remote_id",
        "with t as (select 1 as x) select x from t",
        "select * from a union all select * from b",
        "SELECT 'a;b' AS remote_id;",
    ],
)
def test_validate_select_accepts_single_reads(sql: str) -> None:
    assert validate_select(sql, "duckdb").lower().startswith(("select", "with"))


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("attach 'x.duckdb' as x", "SELECT statement"),
        ("pragma database_list", "SELECT statement"),
        ("copy t to 'out.csv'", "SELECT statement"),
        ("select 1; drop table t", "single SELECT"),
        ("drop table t", "SELECT statement"),
        ("insert into t select 1", "SELECT statement"),
        ("select * into t2 from t", "INTO"),
        ("with d as (delete from t returning *) select * from d", "DELETE"),
        ("update t set x = 1", "SELECT statement"),
        ("select (", "not valid SQL"),
        ("", "single SELECT"),
    ],
)
def test_validate_select_rejects_everything_else(sql: str, reason: str) -> None:
    for dialect in ("duckdb", "postgres"):
        with pytest.raises(ConfigError, match=f"{reason}|not valid SQL"):
            validate_select(sql, dialect)
    with pytest.raises(ConfigError, match=reason):
        validate_select(sql, "duckdb")


def test_model_and_table_names_are_validated_and_quoted() -> None:
    memory = DuckDBWarehouse(":memory:")
    assert SyncInput().resolve("refiner_analytics", memory) == (
        'SELECT * FROM "memory"."refiner_analytics"."contact_traits"',
        "contact_traits",
    )
    assert SyncInput(table="marts.traits").resolve("refiner_analytics", memory)[0] == (
        'SELECT * FROM "memory"."marts"."traits"'
    )
    for bad in ('x"; drop table t; --', "a b", "1abc"):
        with pytest.raises(ConfigError, match="Invalid"):
            SyncInput(model=bad).resolve("refiner_analytics", memory)
    with pytest.raises(ConfigError, match=r"schema\.name"):
        SyncInput(table="justone").resolve("refiner_analytics", memory)
    with pytest.raises(ConfigError, match="Invalid"):
        SyncInput(table='s."t"').resolve("refiner_analytics", memory)
    with pytest.raises(ConfigError, match="at most one"):
        SyncInput(table="a.b", sql="select 1").resolve("refiner_analytics", memory)


def test_mapping_defaults_drop_identifiers_uuid_and_dlt_columns() -> None:
    mapping = resolve_mapping(COLUMNS)
    assert mapping.id_index == 1
    assert mapping.email_index == 2
    assert mapping.trait_keys == ["nps", "plan", "last_response_at"]


def test_mapping_renames_excludes_and_account() -> None:
    mapping = resolve_mapping(
        [*COLUMNS, "acct", "acct_name"],
        renames={"nps": "latest_nps"},
        exclude=["plan"],
        account_map={"acct": "id", "acct_name": "name"},
    )
    assert mapping.trait_keys == ["latest_nps", "last_response_at"]
    assert mapping.account == ((7, "id"), (8, "name"))


def test_mapping_rejects_unsafe_configurations() -> None:
    with pytest.raises(ConfigError, match="no identifier"):
        resolve_mapping(["nps"])
    with pytest.raises(ConfigError, match="reserved key 'account'"):
        resolve_mapping(["remote_id", "account"])
    with pytest.raises(ConfigError, match="reserved key 'api_key'"):
        resolve_mapping(["remote_id", "x"], renames={"x": "api_key"})
    with pytest.raises(ConfigError, match="same trait"):
        resolve_mapping(["remote_id", "a", "b"], renames={"a": "b"})
    with pytest.raises(ConfigError, match="not in the input"):
        resolve_mapping(["remote_id"], exclude=["typo"])
    with pytest.raises(ConfigError, match="account's `id`"):
        resolve_mapping(["remote_id", "acct"], account_map={"acct": "name"})
    with pytest.raises(ConfigError, match="--id-column"):
        resolve_mapping(["remote_id"], id_column="user_id")
    with pytest.raises(ConfigError, match="column=name"):
        parse_pairs(["novalue"], "--map")


def test_hostile_trait_names_are_plain_payload_keys() -> None:
    name = 'x"; drop table t; --'
    mapping = resolve_mapping(["remote_id", name])
    rows = data(["remote_id", name], [("u1", 'it\'s "quoted"')])
    plan = plan_traits(rows, mapping, {}, sync_name="s")
    assert plan.to_send[0].traits == {name: 'it\'s "quoted"'}


def test_value_rules() -> None:
    assert trait_value("n", 3) == 3
    assert trait_value("b", True) is True
    assert trait_value("f", 2.5) == 2.5
    assert trait_value("d", Decimal("4.00")) == 4
    assert trait_value("d", Decimal("4.25")) == 4.25
    assert trait_value("s", "x" * 255) == "x" * 255
    assert trait_value("seen_at", datetime(2024, 5, 1, 12, 30)) == "2024-05-01T12:30:00Z"
    paris = timezone(timedelta(hours=2))
    assert trait_value("seen_at", datetime(2024, 5, 1, 12, 30, tzinfo=paris)) == (
        "2024-05-01T10:30:00Z"
    )
    assert trait_value("day_at", date(2024, 5, 1)) == "2024-05-01"
    with pytest.raises(InvalidRow, match="256 characters"):
        trait_value("s", "x" * 256)
    with pytest.raises(InvalidRow, match="finite"):
        trait_value("f", float("nan"))
    with pytest.raises(InvalidRow, match="list"):
        trait_value("l", [1, 2])


def test_plan_marks_new_changed_unchanged_invalid_and_skipped() -> None:
    mapping = resolve_mapping(COLUMNS)
    first = plan_traits(data(COLUMNS, [row("u1"), row("u2")]), mapping, {}, sync_name="s")
    assert (first.new, first.changed, first.unchanged) == (2, 0, 0)
    accepted = {
        (r.identifier_type, r.identifier or ""): r.payload_hash or "" for r in first.to_send
    }
    rows = [
        row("u1"),
        row("u2", nps=10),
        row(None, email="e@x.org"),
        row(None),
        row("dup"),
        row("dup"),
        row("long", plan="y" * 300),
        (*row("nothing", nps=None, plan=None)[:5], None, "x"),
    ]
    plan = plan_traits(data(COLUMNS, rows), mapping, accepted, sync_name="s")
    assert (plan.new, plan.changed, plan.unchanged, plan.skipped) == (1, 1, 1, 1)
    assert [(r.identifier_type, r.identifier, r.status) for r in plan.to_send] == [
        ("id", "u2", "changed"),
        ("email", "e@x.org", "new"),
    ]
    reasons = {r.identifier: r.reason or "" for r in plan.invalid}
    assert "missing identifier" in reasons[None]
    assert "duplicate identifier" in reasons["dup"]
    assert "300 characters" in reasons["long"]
    assert len(plan.invalid) == 4


def test_null_modes_and_date_warning() -> None:
    mapping = resolve_mapping(["remote_id", "nps", "signup"])
    rows = data(["remote_id", "nps", "signup"], [("u1", None, date(2024, 1, 2))])
    skip = plan_traits(rows, mapping, {}, sync_name="s")
    assert skip.to_send[0].traits == {"signup": "2024-01-02"}
    assert "signup" in skip.warnings[0] and "_at" in skip.warnings[0]
    clear = plan_traits(rows, mapping, {}, sync_name="s", null_mode="clear")
    assert clear.to_send[0].traits == {"nps": "", "signup": "2024-01-02"}
    assert skip.to_send[0].payload_hash != clear.to_send[0].payload_hash


def test_account_payload() -> None:
    mapping = resolve_mapping(
        ["remote_id", "nps", "acct", "acct_name"], account_map={"acct": "id", "acct_name": "name"}
    )
    rows = data(
        ["remote_id", "nps", "acct", "acct_name"], [("u1", 9, 42, "Acme"), ("u2", 7, None, None)]
    )
    plan = plan_traits(rows, mapping, {}, sync_name="s")
    assert plan.to_send[0].payload() == {
        "id": "u1",
        "nps": 9,
        "account": {"id": "42", "name": "Acme"},
    }
    assert plan.to_send[1].payload() == {"id": "u2", "nps": 7}


def test_max_changes_guard() -> None:
    check_max_changes(5, 5, yes=False)
    check_max_changes(6, 5, yes=True)
    check_max_changes(6, None, yes=False)
    with pytest.raises(ConfigError, match="--yes"):
        check_max_changes(6, 5, yes=False)


def test_event_plan() -> None:
    columns = ["identifier", "event", "row_key"]
    rows = [
        ("u1", "Upgraded", "k1"),
        ("u2", "Upgraded", "k2"),
        ("u3", None, "k3"),
        (None, "Upgraded", "k4"),
        ("u5", "Upgraded", None),
        ("u6", "Upgraded", "k6"),
        ("u7", "Upgraded", "k6"),
    ]
    plan = plan_events(data(columns, rows), {"k2"})
    assert [e.row_key for e in plan.to_send] == ["k1"]
    assert plan.already_sent == 1
    assert sorted((e.row_key or "-", (e.reason or "").split()[1]) for e in plan.invalid) == [
        ("-", "row_key"),
        ("k3", "event"),
        ("k4", "identifier"),
        ("k6", "row_key"),
        ("k6", "row_key"),
    ]
    with pytest.raises(ConfigError, match="row_key"):
        plan_events(data(["identifier", "event"], []), set())


def test_column_conversion_matches_scalar_rules() -> None:
    import pyarrow as pa

    paris = timezone(timedelta(hours=2))
    stamps = [
        datetime(2024, 5, 1, 12, 30, tzinfo=paris),
        None,
        datetime(2024, 5, 1, 12, 30, 0, 500, tzinfo=UTC),
    ]
    converted = convert_column("seen_at", pa.array(stamps))
    assert converted.values == [
        "2024-05-01T10:30:00.000000Z",
        None,
        "2024-05-01T12:30:00.000500Z",
    ]
    assert converted.temporal
    whole = convert_column("seen_at", pa.array(stamps[:2]))
    assert whole.values == [trait_value("seen_at", v) if v else None for v in stamps[:2]]
    assert whole.values[0] == "2024-05-01T10:30:00Z"
    naive = convert_column("seen_at", pa.array([datetime(2024, 5, 1, 12)]))
    assert naive.values == ["2024-05-01T12:00:00Z"]
    floats = convert_column("f", pa.array([1.5, float("inf"), None]))
    assert floats.values[0] == 1.5 and set(floats.invalid) == {1}
    strings = convert_column("s", pa.array(["ok", "x" * 256, None]))
    assert set(strings.invalid) == {1} and "256 characters" in strings.invalid[1]
    decimals = convert_column("d", pa.array([Decimal("1.25"), Decimal("2")]))
    assert decimals.values == [1.25, 2.0]
    integral = convert_column("d", pa.array([Decimal("10"), None], pa.decimal128(20, 0)))
    assert integral.values == [10, None]
    dates = convert_column("day", pa.array([date(2024, 1, 2)]))
    assert dates.values == ["2024-01-02"] and dates.temporal
    lists = convert_column("l", pa.array([[1], None]))
    assert set(lists.invalid) == {0} and "list" in lists.invalid[0]
