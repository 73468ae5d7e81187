"""`[warehouse]`: one destination, dataset and analytics schema for every command.

`resolve_warehouse` gives flag > WAREHOUSE__* > .dlt/config.toml > defaults, and the DuckDB file
flag > DESTINATION__DUCKDB__CREDENTIALS > ./refiner.duckdb. A bad configured value is refused
in one line that names the key and where to fix it, by every command, before any request. With
only `[warehouse]` in config.toml, load, transform, push-traits, digest and sql all work in
the configured schemas (the Dagster runs read the same key: tests/orchestration).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from emulator import DEFAULT_API_KEY, Emulator
from pipelines.config import WarehouseSettings, resolve_warehouse
from pipelines.errors import ConfigError
from tests.cli_run import run_refiner
from tests.dlt_project import DltProject

TOML = """[warehouse]
destination = "postgres"
dataset = "toml_raw"
analytics_schema = "toml_models"
"""


def _names(settings: WarehouseSettings) -> tuple[str, str, str]:
    return settings.destination, settings.dataset, settings.analytics_schema


def test_defaults_when_nothing_is_set(
    dlt_project: DltProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    monkeypatch.chdir(dlt_project.path)
    assert resolve_warehouse() == WarehouseSettings(
        "duckdb", "refiner_raw", "refiner_analytics", dlt_project.path.resolve() / "refiner.duckdb"
    )


def test_config_toml_then_environment_then_flags(dlt_project: DltProject) -> None:
    dlt_project.write(config=TOML)
    assert _names(resolve_warehouse()) == ("postgres", "toml_raw", "toml_models")

    os.environ["WAREHOUSE__DESTINATION"] = "duckdb"
    os.environ["WAREHOUSE__DATASET"] = "env_raw"
    assert _names(resolve_warehouse()) == ("duckdb", "env_raw", "toml_models")

    flagged = resolve_warehouse("postgres", "flag_raw", "flag_models")
    assert _names(flagged) == ("postgres", "flag_raw", "flag_models")


def test_the_duckdb_file_is_the_one_load_writes(
    dlt_project: DltProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "configured.duckdb"))
    assert resolve_warehouse().duckdb_path == (tmp_path / "configured.duckdb").resolve()
    flagged = resolve_warehouse(duckdb_path=str(tmp_path / "flag.duckdb"))
    assert flagged.duckdb_path == (tmp_path / "flag.duckdb").resolve()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("destination", "snowflake", "Unknown warehouse.destination 'snowflake'"),
        ("dataset", "my raw", "warehouse.dataset 'my raw'"),
        ("analytics_schema", "1st", "warehouse.analytics_schema '1st'"),
    ],
)
def test_a_bad_configured_value_names_its_key(
    dlt_project: DltProject, name: str, value: str, problem: str
) -> None:
    os.environ[f"WAREHOUSE__{name.upper()}"] = value
    with pytest.raises(ConfigError) as raised:
        resolve_warehouse()
    message = str(raised.value)
    assert message.startswith(problem)
    assert f"WAREHOUSE__{name.upper()}" in message, "the error says where to fix it"
    assert "\n" not in message


COMMANDS = {
    "load": ["load"],
    "transform": ["transform"],
    "push-traits": ["push-traits", "--dry-run"],
    "push-events": ["push-events", "--dry-run", "--sql", "select 1"],
    "digest": ["digest"],
    "sql": ["sql", "select 1"],
    "listen": ["listen", "--insecure"],
    "watch": ["watch"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_a_bad_configured_destination_before_any_request(
    dlt_project: DltProject, emulator: Emulator, tmp_path: Path, command: str
) -> None:
    dlt_project.write(
        secrets=f'[sources.refiner]\napi_key = "{DEFAULT_API_KEY}"\n',
        config=f'[sources.refiner]\nbase_url = "{emulator.base_url}"\n\n'
        '[warehouse]\ndestination = "snowflake"\n',
    )
    database = tmp_path / "warehouse.duckdb"
    run = run_refiner(*COMMANDS[command], "--duckdb-path", str(database))
    assert run.code == 2, run.stderr
    (line,) = run.error_lines
    assert "Unknown warehouse.destination 'snowflake'" in line
    assert line.endswith("fix WAREHOUSE__DESTINATION or [warehouse] in .dlt/config.toml")
    assert len(emulator.request_log) == 0
    assert not database.exists()


@pytest.mark.slow
def test_every_command_works_in_the_schemas_of_config_toml(
    dlt_project: DltProject, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "team.duckdb"
    dlt_project.write(
        secrets=f'[sources.refiner]\napi_key = "{DEFAULT_API_KEY}"\n',
        config=f'[sources.refiner]\nbase_url = "{emulator.base_url}"\n\n'
        '[warehouse]\ndataset = "team_raw"\nanalytics_schema = "team_models"\n',
    )
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(database))
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))

    for args in (["load"], ["transform", "--quiet"]):
        run = run_refiner(*args)
        assert run.code == 0, run.stderr
    plan = run_refiner("push-traits", "--dry-run")
    assert plan.code == 0, plan.stderr
    summary = json.loads(plan.stdout.splitlines()[0])
    digest = run_refiner("digest", "--to", "file", "--output-dir", str(tmp_path / "digest"))
    assert digest.code == 0, digest.stderr
    assert (tmp_path / "digest" / "digest.json").is_file()
    counted = run_refiner("sql", "--format", "csv", "select count(*) from team_raw.responses")
    assert counted.code == 0, counted.stderr

    with duckdb.connect(str(database), read_only=True) as connection:
        found = connection.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()
        (responses,) = connection.execute("SELECT count(*) FROM team_raw.responses").fetchone()
        (traits,) = connection.execute(
            "SELECT count(*) FROM team_models.contact_traits"
            " WHERE remote_id IS NOT NULL OR email IS NOT NULL"
        ).fetchone()
    schemas = {name for (name,) in found}
    assert {"team_raw", "team_models"} <= schemas
    assert not {"refiner_raw", "refiner_analytics"} & schemas
    assert responses > 0
    assert counted.stdout.splitlines()[1:] == [str(responses)]
    assert summary["dry_run"] == "push-traits"
    assert summary["new"] == traits > 0
