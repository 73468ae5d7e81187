"""Where the Refiner API settings come from, for every CLI command.

Precedence: command-line flags, then environment variables (`SOURCES__REFINER__API_KEY`,
`SOURCES__REFINER__BASE_URL`, ...), then `.dlt/secrets.toml` and `.dlt/config.toml` under
`[sources.refiner]`, read through dlt's own config providers so the CLI and the dlt source
see the same values. dlt is imported only when settings are resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pipelines.errors import ConfigError
from sources.refiner.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_TIMEOUT_SECONDS,
)

if TYPE_CHECKING:
    from sources.refiner.client import RefinerClient

SECTION = "sources.refiner"
V = TypeVar("V", int, float)

MISSING_KEY_HELP = (
    "No Refiner API key found. Pass --api-key, set SOURCES__REFINER__API_KEY, or add "
    'api_key = "..." under [sources.refiner] in .dlt/secrets.toml (git-ignored). '
    "Find the key in Refiner under Integrations > REST API."
)


@dataclass(frozen=True)
class ApiSettings:
    """Resolved client settings. The key is left out of the repr."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


def resolve_api_settings(api_key: str | None = None, base_url: str | None = None) -> ApiSettings:
    """Resolve settings: flags (the arguments) > environment > .dlt/*.toml > defaults.

    Raises ConfigError naming where to set the key when none is found, or when a numeric
    setting cannot be read.
    """
    import dlt

    key = api_key if api_key is not None else dlt.secrets.get(f"{SECTION}.api_key")
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(MISSING_KEY_HELP)
    url = base_url if base_url is not None else dlt.config.get(f"{SECTION}.base_url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{SECTION}.base_url must be a URL such as {DEFAULT_BASE_URL}")
    return ApiSettings(
        api_key=key.strip(),
        base_url=(url or DEFAULT_BASE_URL).strip(),
        requests_per_minute=_number("requests_per_minute", float, DEFAULT_REQUESTS_PER_MINUTE),
        max_attempts=_number("max_attempts", int, DEFAULT_MAX_ATTEMPTS),
        timeout_seconds=_number("timeout_seconds", float, DEFAULT_TIMEOUT_SECONDS),
    )


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


def _number(name: str, kind: type[V], default: V) -> V:
    import dlt
    from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

    try:
        value = dlt.config.get(f"{SECTION}.{name}", kind)
    except ConfigValueCannotBeCoercedException:
        raise ConfigError(
            f"{SECTION}.{name} must be a {kind.__name__}; fix SOURCES__REFINER__"
            f"{name.upper()} or .dlt/config.toml"
        ) from None
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(f"{SECTION}.{name} must be positive, got {value}")
    return kind(value)
