"""Where the settings of the `refiner` source and its client come from, for every command.

Every key of `[sources.refiner]` is resolved here, once, and checked before the first request:
`resolve_source_settings` for a load (the client's settings and the source's), and
`resolve_api_settings` for commands that only need the client. Precedence: command-line flags,
then environment variables (`SOURCES__REFINER__PAGE_LENGTH`, ...), then `.dlt/secrets.toml` and
`.dlt/config.toml`, then the defaults in `sources/refiner/settings.py`. Values are read through
dlt's own config providers, so a standalone `refiner()` sees the same ones; the load passes every
resolved value to `refiner()` explicitly, so nothing is resolved a second time.

`resolve_warehouse` says where every command reads and writes (`[warehouse]`: destination,
dataset, analytics schema; the DuckDB file), the same for the CLI, notebooks and the Dagster
definitions. `check_destination` and `check_dataset` are the one check of warehouse names that
every command runs before any request. dlt is imported only when settings are resolved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pipelines.defaults import DEFAULT_ANALYTICS_SCHEMA, DEFAULT_DATASET, DEFAULT_DUCKDB_PATH
from pipelines.errors import ConfigError
from pipelines.warehouse_lock import duckdb_file
from sources.refiner.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_INCLUDE,
    DEFAULT_LOOKBACK_HOURS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_REPORT_TYPES,
    DEFAULT_REPORTING_DAYS,
    DEFAULT_REPORTING_REFETCH_DAYS,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_RESHAPE_IN_PROCESSES_FROM,
    DEFAULT_RESHAPE_PROCESSES,
    DEFAULT_START_DATE,
    DEFAULT_TIMEOUT_SECONDS,
    INCLUDE_VALUES,
    MAX_PAGE_LENGTH,
    REPORT_TYPES,
)

if TYPE_CHECKING:
    from sources.refiner.client import RefinerClient

SECTION = "sources.refiner"
WAREHOUSE_SECTION = "warehouse"
DESTINATIONS: Final = ("duckdb", "postgres")
"""The warehouses every command supports: load, transform and the reverse sync."""

MISSING_KEY_HELP = (
    "No Refiner API key found. Pass --api-key, set SOURCES__REFINER__API_KEY, or add "
    'api_key = "..." under [sources.refiner] in .dlt/secrets.toml (git-ignored). '
    "Find the key in Refiner under Integrations > REST API."
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ApiSettings:
    """Resolved client settings. The key is left out of the repr."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class SourceSettings:
    """Resolved settings of the `refiner` source; the names are `refiner()`'s arguments."""

    start_date: str = DEFAULT_START_DATE
    page_length: int = MAX_PAGE_LENGTH
    include: str = DEFAULT_INCLUDE
    lookback_hours: float = DEFAULT_LOOKBACK_HOURS
    with_attributes: bool = False
    reporting_types: tuple[str, ...] = DEFAULT_REPORT_TYPES
    reporting_days: int = DEFAULT_REPORTING_DAYS
    reporting_refetch_days: int = DEFAULT_REPORTING_REFETCH_DAYS
    max_workers: int = DEFAULT_MAX_WORKERS
    reshape_processes: int = DEFAULT_RESHAPE_PROCESSES
    reshape_in_processes_from: int = DEFAULT_RESHAPE_IN_PROCESSES_FROM


@dataclass(frozen=True)
class Settings:
    """Everything a load needs from `[sources.refiner]`: the client's and the source's."""

    api: ApiSettings
    source: SourceSettings

    def source_arguments(self) -> dict[str, Any]:
        """Every configurable argument of `refiner()`, so dlt injects none of them again."""
        return {**asdict(self.api), **asdict(self.source)}


def resolve_api_settings(api_key: str | None = None, base_url: str | None = None) -> ApiSettings:
    """Resolve the client's settings: flags (the arguments) > environment > .dlt/*.toml >
    defaults.

    Raises ConfigError naming where to set the key when none is found, and naming the key and
    its allowed values when a setting is malformed or out of range.
    """
    import dlt

    key = api_key if api_key is not None else dlt.secrets.get(f"{SECTION}.api_key")
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(MISSING_KEY_HELP)
    url = base_url if base_url is not None else dlt.config.get(f"{SECTION}.base_url")
    if url is not None and (not isinstance(url, str) or not url.strip()):
        raise ConfigError(f"{SECTION}.base_url must be a URL such as {DEFAULT_BASE_URL}")
    return ApiSettings(
        api_key=key.strip(),
        base_url=(url or DEFAULT_BASE_URL).strip(),
        requests_per_minute=_setting("requests_per_minute", float, _positive),
        max_attempts=_setting("max_attempts", int, _at_least(1)),
        timeout_seconds=_setting("timeout_seconds", float, _positive),
    )


def resolve_source_settings(api_key: str | None = None, base_url: str | None = None) -> Settings:
    """`resolve_api_settings` plus every setting of the source, each checked; ConfigError
    (exit 2) for the first that is malformed or out of range, before any request."""
    api = resolve_api_settings(api_key, base_url)
    source = SourceSettings(
        start_date=str(_setting("start_date", str, _iso_date)),
        page_length=_setting("page_length", int, _between(1, MAX_PAGE_LENGTH)),
        include=_setting("include", str, _one_of(INCLUDE_VALUES)),
        lookback_hours=_setting("lookback_hours", float, _at_least(0)),
        with_attributes=_setting("with_attributes", bool, _any),
        reporting_types=tuple(_setting("reporting_types", list, _each_one_of(REPORT_TYPES))),
        reporting_days=_setting("reporting_days", int, _at_least(1)),
        reporting_refetch_days=_setting("reporting_refetch_days", int, _at_least(1)),
        max_workers=_setting("max_workers", int, _at_least(1)),
        reshape_processes=_setting("reshape_processes", int, _at_least(0)),
        reshape_in_processes_from=_setting("reshape_in_processes_from", int, _at_least(0)),
    )
    return Settings(api, source)


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the commands read and write: the warehouse, the dataset `refiner load` writes, the
    schema `refiner transform` builds, and the DuckDB file (read on DuckDB only)."""

    destination: str = DESTINATIONS[0]
    dataset: str = DEFAULT_DATASET
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA
    duckdb_path: Path = Path(DEFAULT_DUCKDB_PATH)


def resolve_warehouse(
    destination: str | None = None,
    dataset: str | None = None,
    analytics_schema: str | None = None,
    duckdb_path: str | Path | None = None,
) -> WarehouseSettings:
    """Resolve `[warehouse]`: flags (the arguments) > WAREHOUSE__DESTINATION, WAREHOUSE__DATASET,
    WAREHOUSE__ANALYTICS_SCHEMA > .dlt/*.toml > duckdb, refiner_raw, refiner_analytics. The
    DuckDB file: `duckdb_path` > DESTINATION__DUCKDB__CREDENTIALS > ./refiner.duckdb.

    Raises ConfigError (exit 2) naming the flag, or the key and where to fix it, for an unknown
    destination or a name that is not a plain SQL identifier.
    """
    defaults = WarehouseSettings()
    chosen = _warehouse_value("destination", destination, defaults.destination, check_destination)
    return WarehouseSettings(
        destination=chosen,
        dataset=_warehouse_value("dataset", dataset, defaults.dataset, check_dataset),
        analytics_schema=_warehouse_value(
            "analytics_schema", analytics_schema, defaults.analytics_schema, check_dataset
        ),
        duckdb_path=duckdb_file(duckdb_path),
    )


def _warehouse_value(
    name: str, flag: str | None, default: str, check: Callable[[str, str], str]
) -> str:
    """`--name` if given, else `warehouse.<name>`, else `default`; checked by `check`, whose
    error names the flag, or the key and where to fix it."""
    import dlt

    if flag is not None:
        return check(flag, f"--{name.replace('_', '-')}")
    value: Any = dlt.config.get(f"{WAREHOUSE_SECTION}.{name}")
    if value is None:
        return default
    try:
        return check(str(value).strip(), f"{WAREHOUSE_SECTION}.{name}")
    except ConfigError as error:
        raise ConfigError(
            f"{error}; fix WAREHOUSE__{name.upper()} or [warehouse] in .dlt/config.toml"
        ) from None


def make_client(settings: ApiSettings, **overrides: Any) -> RefinerClient:
    """A RefinerClient configured from `settings`; `overrides` go to its constructor."""
    from sources.refiner.client import RefinerClient

    options: dict[str, Any] = {
        "timeout": settings.timeout_seconds,
        "max_attempts": settings.max_attempts,
        "requests_per_minute": settings.requests_per_minute,
        **overrides,
    }
    return RefinerClient(settings.api_key, settings.base_url, **options)


def check_destination(destination: str, option: str = "--destination") -> str:
    """Return `destination` if the project supports it; ConfigError (exit 2) naming the ones
    it does otherwise."""
    if destination not in DESTINATIONS:
        raise ConfigError(
            f"Unknown {option} {destination!r}: destination must be one of "
            f"{', '.join(DESTINATIONS)}"
        )
    return destination


def check_dataset(name: str, option: str = "--dataset") -> str:
    """Return `name` if it is a plain SQL identifier (letters, digits and `_`, not starting
    with a digit, at most 63 characters); ConfigError (exit 2) otherwise. dlt would rename
    `my raw` to `my_raw` silently, and dbt and the reverse sync would not find it."""
    if not _NAME.match(name):
        raise ConfigError(
            f"{option} {name!r} is not a valid name: use letters, digits and underscores only "
            "(at most 63 characters, not starting with a digit)"
        )
    return name


_Check = Callable[[Any], str | None]
"""Returns what is wrong with a value (`must be ...`), or None when it is fine."""


def _setting(name: str, kind: type, check: _Check) -> Any:
    """The configured value of `SECTION.name` as `kind`, or its default; checked by `check`."""
    import dlt
    from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

    try:
        value: Any = dlt.config.get(f"{SECTION}.{name}", kind)
    except ConfigValueCannotBeCoercedException:
        raise _invalid(name, f"must be {_KIND_NAMES[kind]}") from None
    if value is None:
        return _default(name)
    problem = check(value)
    if problem is not None:
        raise _invalid(name, f"{problem}, got {value!r}")
    return value


_KIND_NAMES: dict[type, str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: 'a list such as ["nps", "csat"]',
    str: "text",
}


def _invalid(name: str, problem: str) -> ConfigError:
    return ConfigError(
        f"{SECTION}.{name} {problem}; fix SOURCES__REFINER__{name.upper()} "
        "or [sources.refiner] in .dlt/config.toml"
    )


def _default(name: str) -> Any:
    for defaults in (ApiSettings(api_key=""), SourceSettings()):
        if hasattr(defaults, name):
            return getattr(defaults, name)
    raise KeyError(name)


def _any(value: Any) -> str | None:
    return None


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _at_least(low: float) -> _Check:
    return lambda value: None if value >= low else f"must be at least {low}"


def _between(low: int, high: int) -> _Check:
    return lambda value: None if low <= value <= high else f"must be from {low} to {high}"


def _one_of(allowed: Sequence[str]) -> _Check:
    return lambda value: None if value in allowed else f"must be one of {', '.join(allowed)}"


def _each_one_of(allowed: Sequence[str]) -> _Check:
    def check(values: list[Any]) -> str | None:
        wrong = [value for value in values if value not in allowed]
        return f"must list only {', '.join(allowed)}" if wrong else None

    return check


def _iso_date(value: str | date) -> str | None:
    if isinstance(value, date):
        return None
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return "must be an ISO 8601 date such as 2024-01-01"
    return None
