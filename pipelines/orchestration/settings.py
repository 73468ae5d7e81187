"""What the Dagster definitions read from dlt's configuration.

Nothing here is Dagster's own but the schedules. The warehouse (`[warehouse]` destination,
dataset, analytics schema; the DuckDB file) and the scheduled digest's time zone, targets and
output folder (`[digest]`) are resolved by the same functions the CLI uses for its flags'
defaults, and the Refiner key, base URL and credentials by `run_load`, dbt's profile and the
reverse sync at run time, from the same keys and files. The `[orchestration]` section holds
the cron lines:

    [orchestration]
    timezone = "UTC"                  # of the incremental and reconcile schedules
    incremental_cron = "*/30 * * * *"
    reconcile_cron = "0 3 * * *"
    digest_cron = "0 7 * * *"         # in [digest] timezone
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.config import WarehouseSettings, resolve_warehouse
from pipelines.digest.settings import DigestDefaults, Target, digest_defaults
from pipelines.errors import ConfigError

SECTION = "orchestration"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_INCREMENTAL_CRON = "*/30 * * * *"
DEFAULT_RECONCILE_CRON = "0 3 * * *"
DEFAULT_DIGEST_CRON = "0 7 * * *"
SCHEDULED_DIGEST_TARGETS: tuple[Target, ...] = ("file",)
"""Where the scheduled digest goes when `[digest] targets` is not set."""


@dataclass(frozen=True)
class Cron:
    """A schedule's cron line and the IANA time zone it is read in."""

    cron: str
    timezone: str


@dataclass(frozen=True)
class OrchestrationSettings:
    """The warehouse and digest settings the CLI also reads, and the three schedules."""

    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    digest_defaults: DigestDefaults = field(default_factory=DigestDefaults)
    incremental: Cron = Cron(DEFAULT_INCREMENTAL_CRON, DEFAULT_TIMEZONE)
    reconcile: Cron = Cron(DEFAULT_RECONCILE_CRON, DEFAULT_TIMEZONE)
    digest: Cron = Cron(DEFAULT_DIGEST_CRON, DEFAULT_TIMEZONE)

    @property
    def digest_targets(self) -> tuple[Target, ...]:
        """`[digest] targets`, else files (a scheduled digest on stdout would reach no one)."""
        return self.digest_defaults.targets or SCHEDULED_DIGEST_TARGETS


def resolve_settings() -> OrchestrationSettings:
    """Read `[warehouse]`, `[digest]` and `[orchestration]` through dlt's config providers.

    Raises ConfigError naming the key when a value is empty or a time zone is unknown."""
    timezone = _timezone(f"{SECTION}.timezone")
    digest = digest_defaults()
    return OrchestrationSettings(
        warehouse=resolve_warehouse(),
        digest_defaults=digest,
        incremental=Cron(_cron("incremental_cron", DEFAULT_INCREMENTAL_CRON), timezone),
        reconcile=Cron(_cron("reconcile_cron", DEFAULT_RECONCILE_CRON), timezone),
        digest=Cron(_cron("digest_cron", DEFAULT_DIGEST_CRON), digest.timezone),
    )


def _text(key: str, default: str) -> str:
    import dlt

    value: object = dlt.config.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string; fix it in .dlt/config.toml")
    return value.strip()


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
