"""`dbt build` of dbt_project/ against the warehouse that `refiner load` wrote.

dbt runs in-process through `dbtRunner`, always with the committed dbt_project/profiles.yml
(never dlt's generated profile, whose DuckDB target loads extensions that need the network).
The profile reads its settings from REFINER_* environment variables; `run_transform` sets them
for the duration of the build and restores them afterwards. The models read the loaded tables in
`dataset` (default refiner_raw) and are built in `analytics_schema` (default refiner_analytics).

`[transform] nps_questions` and `csat_questions` in dlt's configuration (question identifiers or
glob patterns; env TRANSFORM__NPS_QUESTIONS='["score", "nps_*"]') become the dbt vars that
recognise NPS and CSAT questions whose form config carries no element type.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.config import check_dataset, check_destination
from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET, DEFAULT_DUCKDB_PATH
from pipelines.errors import ConfigError
from pipelines.warehouse_lock import writer_turn

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
RESPONSE_INCLUDES = ("completed", "partials", "all")

_PASSED = frozenset({"success", "pass"})
_WARNED = frozenset({"warn"})
_SKIPPED = frozenset({"skipped", "no-op"})


class TransformError(Exception):
    """`dbt build` failed: a model did not build, or a test or unit test failed."""


@dataclass(frozen=True)
class NodeFailure:
    """One dbt node (model, test, unit test) that errored or failed, with dbt's message."""

    name: str
    resource_type: str
    status: str
    message: str


@dataclass(frozen=True)
class TransformResult:
    """Counts of one `dbt build`; `schema` is where the models were built."""

    destination: str
    schema: str
    passed: int
    warned: int
    failed: int
    skipped: int
    elapsed_seconds: float
    failures: list[NodeFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"dbt build on {self.destination}: {self.passed} passed, {self.warned} warned, "
            f"{self.skipped} skipped in {self.elapsed_seconds:.1f}s; models in {self.schema}."
        )

    def failure_message(self) -> str:
        """What `refiner transform` prints when the build failed: a line, then one per node."""
        lines = [
            f"dbt build failed on {self.destination}: {self.failed} failed, "
            f"{self.skipped} skipped, {self.passed} passed."
        ]
        lines += [
            f"  {failure.resource_type} {failure.name} ({failure.status}): {failure.message}"
            for failure in self.failures
        ]
        if not self.failures:
            lines.append(
                "  See dbt.log in the dbt log path (default dbt_project/logs) for details."
            )
        return "\n".join(lines)


def run_transform(
    destination: str = "duckdb",
    duckdb_path: str | Path = DEFAULT_DUCKDB_PATH,
    dataset: str = DEFAULT_DATASET,
    *,
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA,
    postgres_url: str | None = None,
    responses_include: str | None = None,
    target_path: str | Path | None = None,
    quiet: bool = False,
    colors: bool | None = None,
) -> TransformResult:
    """Run `dbt build` (models, data tests, unit tests) and return its counts.

    `destination` is duckdb (the file at `duckdb_path`) or postgres (`postgres_url`, else dlt's
    `destination.postgres.credentials`, else the REFINER_PG_* variables). `dataset` is the dlt
    dataset that `refiner load` wrote; the models are built in `analytics_schema`.
    `responses_include` is the load's `include` setting (default: `sources.refiner.include` from
    dlt's configuration); it tells the NPS consistency test whether partial responses were
    loaded. `target_path` holds dbt's artifacts and logs (default: DBT_TARGET_PATH and
    DBT_LOG_PATH, else dbt_project/target and dbt_project/logs). dbt colours its output only
    when `colors` is true (default: stdout is a terminal and NO_COLOR is unset), and never its
    log file.

    Raises ConfigError for bad arguments or a missing DuckDB file, and TransformError when any
    model, test or unit test errors or fails. Not thread-safe: it sets process environment
    variables for the duration of the build.
    """
    invocation = dbt_invocation(
        destination,
        duckdb_path,
        dataset,
        analytics_schema=analytics_schema,
        postgres_url=postgres_url,
        responses_include=responses_include,
    )
    args = [
        "build",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        *invocation.args(),
    ]  # fmt: skip
    if target_path is not None:
        args += ["--target-path", str(target_path), "--log-path", str(Path(target_path) / "logs")]
    if quiet:
        args.append("--quiet")
    in_colour = _terminal_wants_colour() if colors is None else colors
    args += ["--use-colors" if in_colour else "--no-use-colors", "--no-use-colors-file"]
    started = time.monotonic()
    with invocation.applied(), invocation.writer_turn():
        from dbt.cli.main import dbtRunner

        try:
            outcome = dbtRunner().invoke(args)
        finally:
            if destination == "duckdb":
                _close_duckdb()
    elapsed = time.monotonic() - started
    if outcome.exception is not None:
        raise TransformError(f"dbt build could not run: {outcome.exception}") from outcome.exception
    nodes = [
        NodeOutcome(str(node.status), node.node.name, str(node.node.resource_type), node.message)
        for node in getattr(outcome.result, "results", None) or []
    ]
    result = summarise(nodes, destination, analytics_schema, elapsed)
    if not outcome.success or result.failed:
        raise TransformError(result.failure_message())
    result.warnings.extend(_unrecognised_nps_warnings(invocation.environment, analytics_schema))
    return result


@dataclass(frozen=True)
class DbtInvocation:
    """How this project runs dbt against one warehouse: the `--target` and `--vars` arguments,
    the REFINER_* variables that dbt_project/profiles.yml reads, and the DuckDB file whose
    writer lock a build holds (None for PostgreSQL)."""

    target: str
    variables: dict[str, str | list[str]]
    environment: dict[str, str]
    duckdb_file: Path | None = None

    def args(self) -> list[str]:
        """`--target` and `--vars` for any dbt command on this project."""
        return ["--target", self.target, "--vars", json.dumps(self.variables)]

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Set the REFINER_* variables for the block (dbt reads them, in or out of process)."""
        with _environment(self.environment):
            yield

    def writer_turn(self) -> AbstractContextManager[None]:
        """Wait for the DuckDB file's writer lock (see pipelines/warehouse_lock.py); hold it
        while dbt runs."""
        return nullcontext() if self.duckdb_file is None else writer_turn(self.duckdb_file)


def dbt_invocation(
    destination: str = "duckdb",
    duckdb_path: str | Path = DEFAULT_DUCKDB_PATH,
    dataset: str = DEFAULT_DATASET,
    *,
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA,
    postgres_url: str | None = None,
    responses_include: str | None = None,
) -> DbtInvocation:
    """The dbt settings `run_transform` uses for these arguments (see there).

    Raises ConfigError for a bad argument or a missing DuckDB file."""
    include = responses_include or _configured_include()
    environment = _profile_environment(destination, duckdb_path, postgres_url)
    environment["REFINER_DATASET"] = check_dataset(dataset)
    environment["REFINER_ANALYTICS_SCHEMA"] = check_dataset(analytics_schema, "--analytics-schema")
    _check_choice("responses_include", include, RESPONSE_INCLUDES)
    variables: dict[str, str | list[str]] = {"responses_include": include, **_question_vars()}
    database = Path(duckdb_path).resolve() if destination == "duckdb" else None
    return DbtInvocation(destination, variables, environment, database)


def _terminal_wants_colour() -> bool:
    """Colour only for a terminal, and never with NO_COLOR set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")


def _configured_include() -> str:
    """The load's `include` from dlt's configuration (env, .dlt/config.toml), or completed."""
    import dlt

    value = dlt.config.get("sources.refiner.include", str)
    return value or "completed"


def _question_vars() -> dict[str, list[str]]:
    """`nps_questions` and `csat_questions` from `[transform]`: a list (a TOML array, or JSON
    in an environment variable), or a lone string as one pattern."""
    import dlt
    from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

    values: dict[str, list[str]] = {}
    for name in ("nps_questions", "csat_questions"):
        key = f"transform.{name}"
        value: Any
        try:
            value = dlt.config.get(key, list)
        except ConfigValueCannotBeCoercedException:
            value = [dlt.config.get(key)]
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(
                f"transform.{name} must be a list of question identifiers or glob patterns, "
                f'such as ["nps", "how_likely_*"]; fix TRANSFORM__{name.upper()} or '
                ".dlt/config.toml."
            )
        values[name] = value
    return values


_UNRECOGNISED_NPS_SQL = (
    "select form_uuid, form_name from {schema}.dim_forms "
    "where has_nps_report and nps_question_count = 0 order by form_name, form_uuid"
)


def _unrecognised_nps_warnings(environment: Mapping[str, str], schema: str) -> list[str]:
    """One line per form whose NPS report has answers while no NPS question was recognised."""
    sql = _UNRECOGNISED_NPS_SQL.format(schema=f'"{schema}"')
    if environment["REFINER_DBT_TARGET"] == "duckdb":
        import duckdb

        with duckdb.connect(environment["REFINER_DUCKDB_PATH"], read_only=True) as connection:
            rows = connection.execute(sql).fetchall()
    else:
        rows = _postgres_rows(environment, sql)
    return [
        f"Form {name!r} ({uuid}) has NPS answers in Refiner's reports but no NPS question was "
        "recognised; add its question identifier to [transform] nps_questions."
        for uuid, name in rows
    ]


def _postgres_rows(environment: Mapping[str, str], sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the database the profile used (REFINER_PG_* as dbt resolved them)."""
    import psycopg2

    def setting(name: str, default: str) -> str:
        return environment.get(name) or os.environ.get(name) or default

    connection = psycopg2.connect(
        host=setting("REFINER_PG_HOST", "127.0.0.1"),
        port=int(setting("REFINER_PG_PORT", "5432")),
        user=setting("REFINER_PG_USER", "postgres"),
        password=setting("REFINER_PG_PASSWORD", "postgres"),
        dbname=setting("REFINER_PG_DBNAME", "postgres"),
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def _profile_environment(
    destination: str, duckdb_path: str | Path, postgres_url: str | None
) -> dict[str, str]:
    """The REFINER_* variables of the connection that dbt_project/profiles.yml reads."""
    check_destination(destination)
    environment = {"REFINER_DBT_TARGET": destination}
    if destination == "duckdb":
        path = Path(duckdb_path).resolve()
        if not path.is_file():
            raise ConfigError(f"DuckDB file {str(path)!r} does not exist; run `refiner load`.")
        environment["REFINER_DUCKDB_PATH"] = str(path)
    else:
        environment.update(_postgres_environment(postgres_url))
    return environment


def _postgres_environment(postgres_url: str | None) -> dict[str, str]:
    """REFINER_PG_* from `postgres_url` or dlt's postgres credentials; empty when neither is set
    (the profile then uses REFINER_PG_* from the environment or its defaults)."""
    from dlt.common.configuration import resolve_configuration
    from dlt.common.configuration.exceptions import ConfigurationException
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    credentials = PostgresCredentials()
    try:
        if postgres_url:
            credentials.parse_native_representation(postgres_url)
        else:
            credentials = resolve_configuration(credentials, sections=("destination", "postgres"))
    except ConfigurationException:
        if postgres_url:
            raise ConfigError("postgres_url is not a valid PostgreSQL URL.") from None
        return {}
    return {
        "REFINER_PG_HOST": str(credentials.host),
        "REFINER_PG_PORT": str(credentials.port or 5432),
        "REFINER_PG_USER": str(credentials.username),
        "REFINER_PG_PASSWORD": str(credentials.password or ""),
        "REFINER_PG_DBNAME": str(credentials.database),
    }


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore the previous values."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _close_duckdb() -> None:
    """Close the DuckDB database that dbt-duckdb keeps open between in-process runs.

    Otherwise this process could not open the file again with another configuration (for
    example read-only, as the reverse sync does), and other processes could not open it at all.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


@dataclass(frozen=True)
class NodeOutcome:
    """One dbt node's result, as dbt's runner or its run_results.json reports it."""

    status: str
    name: str
    resource_type: str
    message: str | None


def summarise(
    nodes: Iterable[NodeOutcome], destination: str, schema: str, elapsed: float
) -> TransformResult:
    """Count a dbt build's node results into a TransformResult."""
    counts = {"passed": 0, "warned": 0, "failed": 0, "skipped": 0}
    failures: list[NodeFailure] = []
    for node in nodes:
        if node.status in _PASSED:
            counts["passed"] += 1
        elif node.status in _WARNED:
            counts["warned"] += 1
        elif node.status in _SKIPPED:
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
            failures.append(
                NodeFailure(
                    node.name, node.resource_type, node.status, (node.message or "").strip()
                )
            )
    return TransformResult(
        destination=destination,
        schema=schema,
        passed=counts["passed"],
        warned=counts["warned"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        elapsed_seconds=elapsed,
        failures=failures,
    )
