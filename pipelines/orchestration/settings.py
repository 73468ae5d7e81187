"""What the Dagster definitions read from dlt's configuration, with the CLI's defaults.

The Refiner key, base URL and warehouse credentials are not read here: `run_load`, dbt's
profile and the reverse sync resolve them at run time from the same keys and files as the
CLI (`SOURCES__REFINER__API_KEY`, `DESTINATION__DUCKDB__CREDENTIALS`,
`DESTINATION__POSTGRES__CREDENTIALS`, `.dlt/*.toml`). The `[orchestration]` section holds
what the CLI takes as flags (destination, dataset, analytics schema, with the flags' defaults)
and the schedules:

    [orchestration]
    destination = "duckdb"            # refiner load --destination
    dataset = "refiner_raw"           # --dataset
    analytics_schema = "refiner_analytics"
    timezone = "UTC"                  # of the incremental and reconcile schedules
    incremental_cron = "*/30 * * * *"
    reconcile_cron = "0 3 * * *"
    digest_cron = "0 7 * * *"         # in [digest] timezone (default UTC)
    digest_to = ["file"]              # refiner digest --to: file, email, slack, stdout
    digest_output_dir = "digest"      # where --to file writes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET
from pipelines.errors import ConfigError
from pipelines.warehouse_lock import duckdb_file

SECTION = "orchestration"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_INCREMENTAL_CRON = "*/30 * * * *"
DEFAULT_RECONCILE_CRON = "0 3 * * *"
DEFAULT_DIGEST_CRON = "0 7 * * *"
DEFAULT_DIGEST_TO = ("file",)
DEFAULT_DIGEST_OUTPUT_DIR = "digest"


@dataclass(frozen=True)
class Cron:
    """A schedule's cron line and the IANA time zone it is read in."""

    cron: str
    timezone: str


@dataclass(frozen=True)
class OrchestrationSettings:
    """The load's destination and dataset, dbt's schema, and the three schedules."""

    destination: str = "duckdb"
    dataset: str = DEFAULT_DATASET
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA
    incremental: Cron = Cron(DEFAULT_INCREMENTAL_CRON, DEFAULT_TIMEZONE)
    reconcile: Cron = Cron(DEFAULT_RECONCILE_CRON, DEFAULT_TIMEZONE)
    digest: Cron = Cron(DEFAULT_DIGEST_CRON, DEFAULT_TIMEZONE)
    digest_to: tuple[str, ...] = DEFAULT_DIGEST_TO
    digest_output_dir: str = DEFAULT_DIGEST_OUTPUT_DIR

    def duckdb_path(self) -> Path:
        """The DuckDB file `refiner load` writes without --duckdb-path (resolved now)."""
        return duckdb_file(None)


def resolve_settings() -> OrchestrationSettings:
    """Read `[orchestration]` (and `[digest] timezone`) through dlt's config providers.

    Raises ConfigError naming the key when a value is empty or a time zone is unknown."""
    timezone = _timezone(f"{SECTION}.timezone")
    return OrchestrationSettings(
        destination=_text(f"{SECTION}.destination", "duckdb"),
        dataset=_text(f"{SECTION}.dataset", DEFAULT_DATASET),
        analytics_schema=_text(f"{SECTION}.analytics_schema", DEFAULT_ANALYTICS_SCHEMA),
        incremental=Cron(_cron("incremental_cron", DEFAULT_INCREMENTAL_CRON), timezone),
        reconcile=Cron(_cron("reconcile_cron", DEFAULT_RECONCILE_CRON), timezone),
        digest=Cron(_cron("digest_cron", DEFAULT_DIGEST_CRON), _timezone("digest.timezone")),
        digest_to=_targets(f"{SECTION}.digest_to"),
        digest_output_dir=_text(f"{SECTION}.digest_output_dir", DEFAULT_DIGEST_OUTPUT_DIR),
    )


def _text(key: str, default: str) -> str:
    import dlt

    value: object = dlt.config.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string; fix it in .dlt/config.toml")
    return value.strip()


def _targets(key: str) -> tuple[str, ...]:
    """A list of digest targets, or one comma-separated string of them (as from the env)."""
    import dlt

    value: object = dlt.config.get(key)
    if value is None:
        return DEFAULT_DIGEST_TO
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f'{key} must be a list such as ["file", "email"]')
    targets = tuple(name.strip() for name in names if name.strip())
    if not targets:
        raise ConfigError(f"{key} is empty; give at least one of file, email, slack, stdout")
    return targets


def _cron(name: str, default: str) -> str:
    """The cron line at `orchestration.<name>`; Dagster checks it when the schedule is built."""
    return _text(f"{SECTION}.{name}", default)


def _timezone(key: str) -> str:
    value = _text(key, DEFAULT_TIMEZONE)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{key} {value!r} is not an IANA time zone such as Europe/Paris"
        ) from None
    return value
