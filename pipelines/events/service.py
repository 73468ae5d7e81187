"""The parts `refiner listen` and `refiner watch` share, started and stopped together.

`EventsService` owns the spool, its group-commit writer, the flusher and the action runner.
Settings come from `[sources.refiner]` through dlt's config providers, as pipelines/config.py
reads the API key: `webhook_secret`, `webhook_token_header`, `webhook_project_uuid`,
`slack_webhook_url`, `forward_webhook_secret` (SOURCES__REFINER__WEBHOOK_SECRET, ...).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pipelines.config import ApiSettings, check_destination, resolve_api_settings
from pipelines.defaults import DEFAULT_DATASET
from pipelines.errors import ConfigError
from pipelines.events.actions import ActionSecrets, Actuator
from pipelines.events.flusher import FlushProcess
from pipelines.events.rules import Rule, load_rules
from pipelines.events.runner import ActionRunner, RetryPolicy
from pipelines.events.spool import Spool, SpoolWriter
from pipelines.events.warehouse import WarehouseTarget

logger = logging.getLogger(__name__)

SECTION = "sources.refiner"
DEFAULT_SPOOL = "refiner_events/spool.sqlite"


@dataclass(frozen=True)
class ServiceOptions:
    """Where the spool and the warehouse are, and which rules run."""

    spool_path: Path = Path(DEFAULT_SPOOL)
    destination: str = "duckdb"
    dataset: str = DEFAULT_DATASET
    duckdb_path: str | None = None
    rules_path: Path | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    flush_poll_seconds: float = 0.2


def configured(name: str) -> str | None:
    """A `[sources.refiner]` setting or secret, stripped; None when unset or empty."""
    import dlt

    value: object = dlt.secrets.get(f"{SECTION}.{name}")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{SECTION}.{name} must be text")
    return value.strip() or None


class EventsService:
    """Spool, writer, flusher and runner; a context manager that starts and stops them."""

    def __init__(self, options: ServiceOptions, api: ApiSettings | None = None) -> None:
        """`api` overrides the Refiner client settings otherwise resolved from the config."""
        check_destination(options.destination)
        self.options = options
        self.rules: list[Rule] = load_rules(options.rules_path) if options.rules_path else []
        self.spool = Spool(options.spool_path)
        target = WarehouseTarget.resolve(options.destination, options.dataset, options.duckdb_path)
        working_dir = options.spool_path.parent / "dlt"
        self.flusher = FlushProcess(
            options.spool_path, target, working_dir, options.flush_poll_seconds
        )
        actuator = Actuator(api or _api_settings(self.rules), ActionSecrets.resolve())
        self.runner = ActionRunner(self.spool, self.rules, actuator, options.retry)
        self.writer: SpoolWriter | None = None

    def __enter__(self) -> EventsService:
        self.writer = SpoolWriter(self.spool)
        self.flusher.start()
        self.runner.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.writer is not None:
            self.writer.close()
        self.runner.stop()
        if self.flusher.stop() != 0:
            logger.warning("deliveries stay spooled; the next start flushes them")


def _api_settings(rules: list[Rule]) -> ApiSettings | None:
    """The Refiner client settings, needed (and so required) only by Refiner actions."""
    kinds = {action.type for rule in rules for action in rule.actions}
    uses_refiner = bool(kinds & {"track-event", "update-contact"})
    return resolve_api_settings() if uses_refiner else None
