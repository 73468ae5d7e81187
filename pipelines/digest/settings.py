"""The `[digest]` settings, read through dlt's config and secrets providers.

Like `[sources.refiner]` (see pipelines/config.py), every key can be set in `.dlt/config.toml`,
`.dlt/secrets.toml` or as an environment variable `DIGEST__<KEY>`:

- email: `smtp_host`, `smtp_port` (587, or 465 with `smtp_ssl`), `smtp_starttls` (true),
  `smtp_ssl` (false), `smtp_username`, `smtp_password` (secret), `digest_from`, `digest_to`
  (a list, or addresses separated by commas), `smtp_timeout_seconds` (30);
- Slack: `slack_webhook_url` (secret), `chart_base_url` (where `nps_trend.png` is served);
- summariser: `llm_base_url`, `llm_model`, `llm_api_key` (secret), `llm_include_identities`
  (false), `llm_timeout_seconds` (30);
- the defaults of `refiner digest`'s flags, which the scheduled digest uses too: `timezone`
  (UTC), `targets` (a list among stdout, file, email, slack; unset, the command prints to
  stdout and the schedule writes files), `output_dir` (digest).

Secrets are kept out of every repr, and no error message quotes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.errors import ConfigError

SECTION = "digest"
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_TIMEZONE = "UTC"
DEFAULT_OUTPUT_DIR = "digest"
T = TypeVar("T", bool, int, float)
Target = Literal["stdout", "file", "email", "slack"]
TARGETS: tuple[Target, ...] = ("stdout", "file", "email", "slack")


@dataclass(frozen=True)
class DigestDefaults:
    """What a digest uses where no flag says otherwise. `targets` is None when not set."""

    timezone: str = DEFAULT_TIMEZONE
    targets: tuple[Target, ...] | None = None
    output_dir: str = DEFAULT_OUTPUT_DIR


def digest_defaults() -> DigestDefaults:
    """`[digest]` timezone, targets and output_dir; ConfigError naming the key for an unknown
    time zone or target."""
    timezone = _text("timezone") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{SECTION}.timezone {timezone!r} is not an IANA time zone such as Europe/Berlin; "
            "fix DIGEST__TIMEZONE or [digest] in .dlt/config.toml."
        ) from None
    configured = _value("targets")
    return DigestDefaults(
        timezone=timezone,
        targets=None if configured is None else parse_targets(configured, f"{SECTION}.targets"),
        output_dir=_text("output_dir") or DEFAULT_OUTPUT_DIR,
    )


def parse_targets(value: str | Sequence[str], option: str = "--to") -> tuple[Target, ...]:
    """Targets from a list, each item possibly comma-separated, without repeats; ConfigError
    naming `option` for an unknown target or an empty list."""
    names = [value] if isinstance(value, str) else list(value)
    chosen: list[Target] = []
    for name in names:
        for part in str(name).split(","):
            target = part.strip()
            if target not in TARGETS:
                raise ConfigError(f"{option} must be among {', '.join(TARGETS)}; got {target!r}.")
            if target not in chosen:
                chosen.append(cast(Target, target))
    if not chosen:
        raise ConfigError(f"{option} needs at least one of {', '.join(TARGETS)}.")
    return tuple(chosen)


@dataclass(frozen=True)
class EmailSettings:
    """Where and how `--to email` sends."""

    host: str
    port: int
    starttls: bool
    ssl: bool
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    recipients: tuple[str, ...]
    timeout_seconds: float


@dataclass(frozen=True)
class SlackSettings:
    """The incoming webhook of `--to slack`, and where the chart is served, if anywhere."""

    webhook_url: str = field(repr=False)
    chart_base_url: str | None


@dataclass(frozen=True)
class LlmSettings:
    """An OpenAI-compatible chat-completions endpoint for `--summarizer openai`."""

    base_url: str
    model: str
    api_key: str | None = field(repr=False)
    include_identities: bool
    timeout_seconds: float


def email_settings() -> EmailSettings:
    """The SMTP settings; ConfigError names each missing key and how to set it."""
    host = _text("smtp_host")
    sender = _text("digest_from")
    recipients = _addresses(_value("digest_to"))
    _require({"smtp_host": host, "digest_from": sender, "digest_to": recipients or None})
    ssl = _typed("smtp_ssl", bool, False)
    assert host is not None and sender is not None
    return EmailSettings(
        host=host,
        port=_typed("smtp_port", int, 465 if ssl else 587),
        starttls=_typed("smtp_starttls", bool, True) and not ssl,
        ssl=ssl,
        username=_text("smtp_username"),
        password=_secret("smtp_password"),
        sender=sender,
        recipients=recipients,
        timeout_seconds=_typed("smtp_timeout_seconds", float, DEFAULT_TIMEOUT_SECONDS),
    )


def slack_settings() -> SlackSettings:
    """The Slack webhook; ConfigError when `slack_webhook_url` is not set."""
    url = _secret("slack_webhook_url")
    _require({"slack_webhook_url": url})
    assert url is not None
    return SlackSettings(webhook_url=url, chart_base_url=chart_base_url())


def chart_base_url() -> str | None:
    """Where the PNG that `--to file` writes will be served, if it will."""
    return _text("chart_base_url")


def llm_settings() -> LlmSettings:
    """The chat-completions endpoint; ConfigError when its URL or model is not set."""
    base_url = _text("llm_base_url")
    model = _text("llm_model")
    _require({"llm_base_url": base_url, "llm_model": model})
    assert base_url is not None and model is not None
    return LlmSettings(
        base_url=base_url.rstrip("/"),
        model=model,
        api_key=_secret("llm_api_key"),
        include_identities=_typed("llm_include_identities", bool, False),
        timeout_seconds=_typed("llm_timeout_seconds", float, DEFAULT_TIMEOUT_SECONDS),
    )


def _require(values: dict[str, Any]) -> None:
    missing = [name for name, value in values.items() if value is None]
    if missing:
        keys = ", ".join(missing)
        variables = ", ".join(f"DIGEST__{name.upper()}" for name in missing)
        raise ConfigError(
            f"Missing digest settings: {keys}. Set them under [digest] in .dlt/config.toml "
            f"(secrets in .dlt/secrets.toml) or as {variables}."
        )


def _value(name: str) -> Any:
    import dlt

    return dlt.config.get(f"{SECTION}.{name}")


def _text(name: str) -> str | None:
    value = _value(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _secret(name: str) -> str | None:
    import dlt

    value: Any = dlt.secrets.get(f"{SECTION}.{name}")
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _typed(name: str, kind: type[T], default: T) -> T:
    import dlt
    from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

    try:
        value: Any = dlt.config.get(f"{SECTION}.{name}", kind)
    except ConfigValueCannotBeCoercedException:
        raise ConfigError(
            f"{SECTION}.{name} must be a {kind.__name__}; fix DIGEST__{name.upper()} or "
            "[digest] in .dlt/config.toml."
        ) from None
    return default if value is None else kind(value)


def _addresses(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())
